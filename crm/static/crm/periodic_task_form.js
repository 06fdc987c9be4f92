/* The periodic task form (django-celery-beat): shows the chosen crontab in words under the field.
   The package does this in an inline script, which the Content-Security-Policy blocks. */
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }
  ready(function () {
    var data = document.getElementById("readable-crontabs");
    var select = document.getElementById("id_crontab");
    var help = document.querySelector(".field-crontab .help");
    var translation = document.querySelector(".field-crontab_translation");
    if (translation) { translation.style.display = "none"; }
    if (!data || !select || !help) { return; }
    var readable = JSON.parse(data.textContent);
    var original = help.textContent;
    select.addEventListener("change", function () {
      var words = readable[select.value];
      help.textContent = words ? original + " — " + words : original;
    });
  });
})();
