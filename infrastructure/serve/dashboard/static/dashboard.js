// Live updates without a reload: poll /live; when the read models moved, fetch this page
// again and swap its <main> (not while the person is typing in a form on it). A page shows
// the position its numbers come from; it is fetched again until that is the newest.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var status = document.getElementById("live-status");
  if (!main || main.dataset.live !== "true") { return; }
  var position = document.body.dataset.position;
  function busy() {
    var active = document.activeElement;
    return active && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
  }
  function refresh() {
    return fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("main");
        if (fresh) {
          main.innerHTML = fresh.innerHTML;
          // the page may show an earlier position while serve recomputes: ask again then
          position = page.body.dataset.position;
          document.body.dataset.position = position;
          document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
        }
      });
  }
  function poll() {
    fetch("/live", { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (live) {
        if (!live) { return; }
        if (status) { status.textContent = "live · position " + live.position.toLocaleString(); }
        // a page with something under way (a rebuild) is fetched again at every poll
        var moving = main.querySelector("[data-refresh='always']");
        if ((String(live.position) !== String(position) || moving) && !busy()) {
          return refresh();
        }
      })
      .catch(function () { if (status) { status.textContent = "offline"; } })
      .then(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 2000);
}());
