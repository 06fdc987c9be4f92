/* The admin header's language menu: choosing a language submits the form at once.
   A file rather than an onchange attribute: the Content-Security-Policy allows no inline script.
   Without this script the menu's <noscript> button submits it. */
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }
  ready(function () {
    var form = document.getElementById("language-switch");
    var select = form ? form.querySelector("select[name=language]") : null;
    if (select) {
      select.addEventListener("change", function () { form.submit(); });
    }
  });
})();
