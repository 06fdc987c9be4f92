/* Chain gap map: a click on a stage loads its panel without reloading the page.
   Without this script every stage is a plain link to the same page with the stage chosen. */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  ready(function () {
    var map = document.getElementById("chain-map");
    var panel = document.getElementById("stage-detail");
    var parkSelect = document.getElementById("id_map_park");
    if (parkSelect && parkSelect.form) {
      parkSelect.addEventListener("change", function () { parkSelect.form.submit(); });
    }
    if (!map || !panel || !window.fetch) { return; }

    map.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("a.cr-stage") : null;
      if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) { return; }
      var href = link.getAttribute("href");
      var fragment = link.getAttribute("data-fragment");
      if (!fragment) { return; }
      event.preventDefault();
      panel.setAttribute("aria-busy", "true");
      fetch(fragment, { credentials: "same-origin", headers: { "X-Requested-With": "XMLHttpRequest" } })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.text();
        })
        .then(function (html) {
          panel.innerHTML = html;
          var selected = map.querySelectorAll("a.cr-stage.selected");
          for (var i = 0; i < selected.length; i++) { selected[i].classList.remove("selected"); }
          link.classList.add("selected");
          if (window.history && window.history.replaceState) { window.history.replaceState(null, "", href); }
          panel.scrollIntoView({ behavior: "smooth", block: "start" });
        })
        .catch(function () { window.location.href = href; })
        .then(function () { panel.removeAttribute("aria-busy"); });
    });
  });
})();
