// The add-card page: Stripe.js confirms a SetupIntent with the card typed in
// its element; only the SetupIntent's id is posted to the portal. The keys
// come from the form's data- attributes (no inline script under the
// Content-Security-Policy).
(function () {
  var form = document.getElementById("card-form");
  if (!form) return;
  var stripe = Stripe(form.dataset.publishableKey);
  var card = stripe.elements().create("card");
  card.mount("#card-element");
  var intent = document.getElementById("setup-intent");
  var save = document.getElementById("save-card");
  var errors = document.getElementById("card-errors");
  form.addEventListener("submit", async function (event) {
    if (intent.value) return;
    event.preventDefault();
    save.disabled = true;
    var result = await stripe.confirmCardSetup(form.dataset.clientSecret, { payment_method: { card: card } });
    if (result.error) {
      errors.textContent = result.error.message || String(result.error);
      save.disabled = false;
      return;
    }
    intent.value = result.setupIntent.id;
    form.submit();
  });
})();
