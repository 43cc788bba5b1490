// Session expiry popup (issue: inactivity sign-out with a warning that can save the session).
// The server is the source of truth: this script asks it how long the session has left
// (a status call that is not activity), counts down locally between checks, and lets
// other tabs know about activity and sign-outs through a BroadcastChannel.
(function () {
  "use strict";
  var body = document.body;
  var statusUrl = body.dataset.sessionStatus;
  var dialog = document.getElementById("session-timeout");
  if (!statusUrl || !dialog) { return; }
  var keepaliveUrl = body.dataset.sessionKeepalive;
  var loginUrl = body.dataset.login;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var countdown = dialog.querySelector("[data-countdown]");
  var channel = "BroadcastChannel" in window ? new BroadcastChannel("backoffice-session") : null;
  var POLL_MS = 15000;
  var deadline = null;  // when the session ends, in this browser's Date.now() terms
  var warningMs = 0;
  var leaving = false;

  function goToLogin(reason) {
    if (leaving) { return; }
    leaving = true;
    var next = window.location.pathname + window.location.search;
    window.location.assign(loginUrl + "?next=" + encodeURIComponent(next) + "&reason=" + reason);
  }

  function apply(status) {
    if (!status.inactivity_timeout) { deadline = null; closeDialog(); return; }
    deadline = Date.now() + status.expires_in * 1000;
    warningMs = status.warning * 1000;
    tick();
  }

  function handle(response) {
    if (response.status === 401) {
      return response.json().then(function (error) {
        var reason = error.reason === "inactivity" ? "inactivity" : "ended";
        // The cookie all tabs share is signed out now: tell them why, they need not ask.
        if (channel) { channel.postMessage("expired:" + reason); }
        goToLogin(reason);
      });
    }
    return response.json().then(apply);
  }

  function check() {
    return fetch(statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(handle).catch(function () { /* offline for a moment: the next check will tell */ });
  }

  function stay() {
    fetch(keepaliveUrl, {
      method: "POST", credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrf }
    }).then(handle).then(function () { if (channel) { channel.postMessage("activity"); } });
  }

  function format(ms) {
    var seconds = Math.max(0, Math.ceil(ms / 1000));
    var minutes = Math.floor(seconds / 60);
    var rest = seconds % 60;
    return minutes + ":" + (rest < 10 ? "0" : "") + rest;
  }

  function openDialog(left) {
    countdown.textContent = format(left);
    if (!dialog.open) {
      dialog.showModal();
      dialog.querySelector("[data-stay]").focus();
    }
  }

  function closeDialog() {
    if (dialog.open) { dialog.close(); }
  }

  function tick() {
    if (deadline === null || leaving) { return; }
    var left = deadline - Date.now();
    if (left <= 0) {
      closeDialog();
      deadline = null;
      check();  // the server decides: it answers 401 once the session is over
    } else if (left <= warningMs) {
      openDialog(left);
    } else {
      closeDialog();
    }
  }

  dialog.querySelector("[data-stay]").addEventListener("click", function () { closeDialog(); stay(); });
  dialog.addEventListener("cancel", function (event) { event.preventDefault(); closeDialog(); stay(); });
  Array.prototype.forEach.call(document.querySelectorAll("form[data-logout]"), function (form) {
    form.addEventListener("submit", function () { if (channel) { channel.postMessage("logout"); } });
  });
  if (channel) {
    channel.onmessage = function (event) {
      var message = String(event.data);
      if (message === "activity") { check(); }
      // The tab that logs out says so as it sends the request: look once it has arrived.
      if (message === "logout") { window.setTimeout(check, 500); window.setTimeout(check, 2000); }
      if (message.indexOf("expired:") === 0) { goToLogin(message.slice(8)); }
    };
    channel.postMessage("activity");  // this page load was activity: other tabs, look again
  }
  window.setInterval(tick, 1000);
  window.setInterval(check, POLL_MS);
  check();
}());
