// pmtwatch reconnect: Dioxus LiveView 0.7's glue does not reconnect by itself. When the
// socket closes, show "reconnecting…", poll /healthz and reload the page once the server
// answers again; all state lives on the server, so the same screen comes back. If the
// session ended meanwhile, the reload lands on the login page.
(function () {
  "use strict";
  var POLL_MS = 500;
  var started = false;

  function showReconnecting() {
    var banner = document.getElementById("reconnect-banner");
    if (banner) banner.hidden = false;
    var conn = document.getElementById("conn-status");
    if (conn) {
      conn.textContent = "● reconnecting…";
      conn.className = "conn conn-down";
    }
    document.documentElement.setAttribute("data-connection", "reconnecting");
  }

  // A socket the server refuses even though /healthz answers (e.g. a proxy that rewrites
  // Host, so the Origin check fails) would reload forever: stop after a few quick tries.
  var KEY = "pmtwatch-reloads";
  function recentReloads() {
    try {
      var v = JSON.parse(sessionStorage.getItem(KEY) || "[]");
      var now = Date.now();
      return v.filter(function (t) { return now - t < 60000; });
    } catch (e) {
      return [];
    }
  }

  function reload() {
    var recent = recentReloads();
    if (recent.length >= 5) {
      var banner = document.getElementById("reconnect-banner");
      if (banner) {
        banner.textContent =
          "cannot connect to the server's live socket; reload the page, or check the proxy's Host/Origin settings";
      }
      return;
    }
    recent.push(Date.now());
    try { sessionStorage.setItem(KEY, JSON.stringify(recent)); } catch (e) { /* private mode */ }
    window.location.reload();
  }

  function poll() {
    fetch("/healthz", { cache: "no-store", credentials: "same-origin" })
      .then(function (r) {
        if (r.ok) {
          reload();
        } else {
          setTimeout(poll, POLL_MS);
        }
      })
      .catch(function () {
        setTimeout(poll, POLL_MS);
      });
  }

  function onDown() {
    if (started) return;
    started = true;
    showReconnecting();
    setTimeout(poll, POLL_MS);
  }

  // When the first render arrives in #main the shell is interactive (the interpreter has
  // attached its listeners); record the time since navigation start for the benchmark.
  var main = document.getElementById("main");
  if (main && window.MutationObserver && window.performance) {
    var mo = new MutationObserver(function () {
      if (main.firstChild) {
        window.pmtwatchReadyAt = performance.now();
        mo.disconnect();
      }
    });
    if (main.firstChild) {
      window.pmtwatchReadyAt = performance.now();
    } else {
      mo.observe(main, { childList: true });
    }
  }

  var ws = window.ipc && window.ipc.ws;
  if (!ws) {
    onDown();
    return;
  }
  document.documentElement.setAttribute("data-connection", "live");
  ws.addEventListener("open", function () {
    try { sessionStorage.removeItem(KEY); } catch (e) { /* private mode */ }
  });
  ws.addEventListener("close", onDown);
  ws.addEventListener("error", onDown);
  // This script may run after the socket already opened or closed.
  if (ws.readyState === WebSocket.OPEN) {
    try { sessionStorage.removeItem(KEY); } catch (e) { /* private mode */ }
  } else if (ws.readyState === WebSocket.CLOSING || ws.readyState === WebSocket.CLOSED) {
    onDown();
  }
})();
