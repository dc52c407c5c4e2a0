// A "Copy" button next to a read-only field (the calendar link): copies the
// field's value. A static file: the Content-Security-Policy runs no inline
// script or onclick attribute. Without a clipboard (plain http), the field
// is selected for the reader to copy.
document.querySelectorAll("[data-copy]").forEach(function (button) {
  button.addEventListener("click", function () {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) return;
    field.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(function () {
        button.textContent = "Copied";
      });
    }
  });
});
