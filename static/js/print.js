// The printable invoice's Print button (a static file: the Content-Security-Policy
// runs no inline script or onclick attribute).
document.querySelectorAll("[data-print]").forEach(function (button) {
  button.addEventListener("click", function () {
    window.print();
  });
});
