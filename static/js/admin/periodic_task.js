/* django-celery-beat's periodic-task form: show the chosen crontab in words under the field
   (its own template does this inline, which the Content-Security-Policy refuses). */
(function ($) {
  "use strict";
  var script = document.getElementById("periodic-task-overrides");
  var data = document.getElementById("readable-crontabs");
  if (!$ || !script || !data) { return; }
  var readable = JSON.parse(data.textContent);
  var help = script.dataset.crontabHelp || "";
  $(".field-crontab_translation").hide();
  $(".field-crontab").change(function () {
    var text = readable[$("#id_crontab").val()];
    var box = $(".field-crontab .help").empty().text(help);
    if (text) { box.append("<br>", document.createTextNode("Translation: " + text)); }
  });
})(window.django && window.django.jQuery);
