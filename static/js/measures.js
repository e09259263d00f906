/* Skip logic for instruments (C-SSRS): hide questions that are not asked. The server applies
   the same rules, so without this script every question shows with a hint and answers to
   unasked questions are discarded. */
(function () {
  "use strict";
  var sets = document.querySelectorAll("fieldset[data-ask-if]");
  if (!sets.length) { return; }
  function value(name) {
    var checked = document.querySelector('input[name="' + name + '"]:checked');
    return checked ? parseInt(checked.value, 10) : null;
  }
  function update() {
    sets.forEach(function (fs) {
      var rule = JSON.parse(fs.dataset.askIf);
      var asked = Object.keys(rule).every(function (name) { return value(name) === rule[name]; });
      fs.hidden = !asked;
      fs.querySelectorAll("input").forEach(function (input) { input.disabled = !asked; });
    });
  }
  document.addEventListener("change", update);
  update();
})();
