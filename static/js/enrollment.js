/* Print buttons (no inline handlers). */
(function () {
  "use strict";
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;  // a page may hide it until this script runs (crisis_saved.html)
    button.addEventListener("click", function () { window.print(); });
  });
})();
