// Web POS device page (/pos): one address for every terminal.
// The device keeps its link (Terminal Key Identifier + device token) and its cache session ID
// in local storage; the server decides whether the link still holds (an administrator may
// have unlinked it). Legacy mode (device security off, ?terminal=KEY): the address picks the
// terminal and no token is sent.
(function () {
  "use strict";
  var root = document.getElementById("pos");
  if (!root) { return; }
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var urls = root.dataset;
  var STORE = { cacheSessionId: "pos.cacheSessionId", terminalKey: "pos.terminalKey", deviceToken: "pos.deviceToken" };
  var state = { terminalKey: root.dataset.legacyTerminal || null, token: null, terminal: null, employee: null };
  var legacy = Boolean(state.terminalKey);
  var cacheSessionId = null;

  var el = function (id) { return document.getElementById(id); };
  var dialog = el("pos-link");
  var linkForm = el("pos-link-form");
  var loginForm = el("pos-login-form");

  // --- local storage -------------------------------------------------------------------
  function storage() {
    try { return window.localStorage; } catch (e) { return null; }  // blocked by the browser's settings
  }

  function newId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    // crypto.randomUUID needs a secure context (HTTPS or localhost); same 122 random bits otherwise.
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  /** The cache session ID: made once per cleared cache, the same across reloads. */
  function ensureCacheSessionId(store) {
    var id = store.getItem(STORE.cacheSessionId);
    if (!id || !/^[A-Za-z0-9-]{8,64}$/.test(id)) {
      id = newId();
      store.setItem(STORE.cacheSessionId, id);
    }
    return id;
  }

  function remember(key, token) {
    var store = storage();
    store.setItem(STORE.terminalKey, key);
    store.setItem(STORE.deviceToken, token);
  }

  function forget() {
    var store = storage();
    store.removeItem(STORE.terminalKey);
    store.removeItem(STORE.deviceToken);
    state.terminalKey = state.token = null;
    state.terminal = state.employee = null;
  }

  // --- calls ---------------------------------------------------------------------------
  var renewal = null;

  /** A new CSRF token from a fresh copy of this page (the old one went with an expired cookie).
   *  Calls refused at the same moment share one renewal: each fetch of the page would start a
   *  new cookie session, and only the last one's token would match the cookie. */
  function renewCsrfToken() {
    if (!renewal) {
      renewal = fetch(urls.pageUrl, { credentials: "same-origin" }).then(function (response) { return response.text(); })
        .then(function (html) {
          var meta = new DOMParser().parseFromString(html, "text/html").querySelector('meta[name="csrf-token"]');
          if (meta) { csrf = meta.content; }
        });
      var done = function () { renewal = null; };
      renewal.then(done, done);
    }
    return renewal;
  }

  /** POST a JSON body; resolves to {status, body}, or {status: 0} when the server cannot be reached.
   *  A till's page stays open for days: when its CSRF token has expired, renew it and retry once
   *  (at once when another call renewed it meanwhile). */
  function post(url, body, retried) {
    var sentToken = csrf;
    var headers = { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": sentToken };
    if (state.terminalKey) { headers["X-Pos-Terminal"] = state.terminalKey; }
    if (state.token) { headers["X-Pos-Device-Token"] = state.token; }
    return fetch(url, { method: "POST", credentials: "same-origin", headers: headers, body: JSON.stringify(body || {}) })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          return { status: response.status, body: data };
        });
      }, function () { return { status: 0, body: {} }; })
      .then(function (result) {
        if (result.body.errorcode !== "csrffailed" || retried) { return result; }
        var renewed = csrf !== sentToken ? Promise.resolve() : renewCsrfToken();
        return renewed.then(function () { return post(url, body, true); }, function () { return result; });
      });
  }

  /** One client log record with this device's cache session ID; a lost record is not an error for the person. */
  function log(level, message) {
    if (!state.terminalKey) { return Promise.resolve(); }
    return post(urls.logUrl, {
      level: level, message: message, cache_session_id: cacheSessionId, logged_at: new Date().toISOString()
    });
  }

  var UNREACHABLE = "The server cannot be reached. Check the network connection and try again.";

  // --- messages beside fields ----------------------------------------------------------
  function show(node, text) {
    node.textContent = text || "";
    node.hidden = !text;
  }

  function clearErrors(form) {
    Array.prototype.forEach.call(form.querySelectorAll("[role=alert]"), function (node) { show(node, ""); });
    Array.prototype.forEach.call(form.querySelectorAll("input"), function (input) {
      input.classList.remove("is-invalid");
      input.removeAttribute("aria-invalid");
      var help = input.getAttribute("aria-describedby");
      if (help) { input.setAttribute("aria-describedby", help.replace(/\S+-error\s*/g, "").trim()); }
    });
  }

  /** The server's message beside the field it names, or at the top of the form. */
  function showError(prefix, result) {
    var message = result.status === 0 ? UNREACHABLE : (result.body.error || "Something went wrong. Please try again.");
    var input = result.body.field && el(prefix + "-" + result.body.field);
    if (!input) {
      show(el(prefix + "-error"), message);
      return;
    }
    var errorId = input.id + "-error";
    show(el(errorId), message);
    input.classList.add("is-invalid");
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", (errorId + " " + (input.getAttribute("aria-describedby") || "")).trim());
    input.focus();
  }

  function busy(form, on) {
    form.querySelector("button[type=submit]").disabled = on;
  }

  // --- what the page shows -------------------------------------------------------------
  function showOnly(id) {
    el("pos-loading").hidden = id !== "pos-loading";
    el("pos-login").hidden = id !== "pos-login";
    el("pos-signed-in").hidden = id !== "pos-signed-in";
  }

  function showLogin() {
    if (dialog.open) { dialog.close(); }
    el("pos-terminal-name").textContent = state.terminal.name;
    el("pos-terminal-store").textContent = state.terminal.store ? "Store: " + state.terminal.store : "";
    loginForm.reset();
    clearErrors(loginForm);
    showOnly("pos-login");
    el("pos-login-username").focus();
  }

  function showSignedIn() {
    el("pos-signed-in-text").textContent =
      "Signed in at " + state.terminal.name + " as " + state.employee.full_name;
    showOnly("pos-signed-in");
    el("pos-logout").focus();
  }

  function showTerminal(terminal, employee) {
    state.terminal = terminal;
    state.employee = employee || null;
    if (state.employee) { showSignedIn(); } else { showLogin(); }
  }

  // --- the link popup's second factor ---------------------------------------------------
  var SENDING_METHODS = ["email", "sms"];
  var METHOD_WORDS = {
    totp: "the code from your authenticator app", email: "a code sent by email", sms: "a code sent by SMS",
    recovery: "one of your recovery codes"
  };
  var sentCode = null;  // {method, challenge} once "Send code by …" has sent one
  var DEFAULT_OTP_HELP = el("pos-link-otp-help").textContent;

  /** Say which codes this employee can use, and offer to send one where that is a way. */
  function offerMethods(methods) {
    var words = methods.filter(function (name) { return METHOD_WORDS[name]; })
      .map(function (name) { return METHOD_WORDS[name]; });
    var text = words.length > 1 ? words.slice(0, -1).join(", ") + ", or " + words[words.length - 1] : words[0];
    el("pos-link-otp-help").textContent = text ? text.charAt(0).toUpperCase() + text.slice(1) + "." : DEFAULT_OTP_HELP;
    SENDING_METHODS.forEach(function (name) { el("pos-link-send-" + name).hidden = methods.indexOf(name) < 0; });
  }

  function forgetSentCode() {
    sentCode = null;
    show(el("pos-link-sent"), "");
    el("pos-link-other-code").hidden = true;
  }

  function linkFields() {
    return {
      username: el("pos-link-username").value, password: el("pos-link-password").value,
      terminal_key: el("pos-link-terminal_key").value.trim()
    };
  }

  function sendCode(method) {
    clearErrors(linkForm);
    var body = linkFields();
    body.method = method;
    busy(linkForm, true);
    post(urls.linkCodeUrl, body).then(function (result) {
      busy(linkForm, false);
      if (result.status !== 200) {
        showError("pos-link", result);
        return;
      }
      sentCode = { method: result.body.method, challenge: result.body.challenge };
      show(el("pos-link-sent"), "We sent a code to " + result.body.sent_to + ". It is valid for " +
        result.body.valid_minutes + " minutes.");
      el("pos-link-other-code").hidden = false;
      el("pos-link-otp").value = "";
      el("pos-link-otp").focus();
    });
  }

  SENDING_METHODS.forEach(function (name) {
    el("pos-link-send-" + name).addEventListener("click", function () { sendCode(name); });
  });
  el("pos-link-other-code").addEventListener("click", function () {
    forgetSentCode();
    el("pos-link-otp").focus();
  });
  // A code sent to one employee is no use to another: a new username forgets it.
  el("pos-link-username").addEventListener("input", forgetSentCode);

  /** Nothing works until the device is linked: the popup stays until it is. */
  function openLinkPopup(message) {
    showOnly(null);
    linkForm.reset();
    clearErrors(linkForm);
    forgetSentCode();
    offerMethods([]);
    el("pos-link-otp-group").hidden = true;
    show(el("pos-link-error"), message);
    if (!dialog.open) { dialog.showModal(); }
    el("pos-link-username").focus();
  }

  function deviceNotLinked() {
    forget();
    legacy = false;
    openLinkPopup("This device is no longer linked to a terminal. Link it again to go on.");
  }

  // --- actions -------------------------------------------------------------------------
  function start() {
    var store = storage();
    if (!store) {
      show(el("pos-message"), "The Web POS needs local storage. Allow this site to store data in this browser and reload the page.");
      return;
    }
    cacheSessionId = ensureCacheSessionId(store);
    el("pos-cache-session-id").textContent = cacheSessionId;
    if (!legacy) {
      state.terminalKey = store.getItem(STORE.terminalKey);
      state.token = store.getItem(STORE.deviceToken);
      if (!state.terminalKey || !state.token) {
        forget();
        openLinkPopup("");
        return;
      }
    }
    showOnly("pos-loading");
    post(urls.statusUrl).then(function (result) {
      if (result.status === 200 && result.body.linked) {
        showTerminal(result.body.terminal, result.body.employee);
        log("info", "Web POS opened at terminal " + result.body.terminal.key + (legacy ? " (chosen by the address)" : ""));
      } else if (result.status === 200) {
        if (legacy) { legacy = false; state.terminalKey = null; openLinkPopup(""); } else { forget(); openLinkPopup(""); }
      } else {
        showOnly(null);  // keep the stored link: the server may only be busy or away for a moment
        show(el("pos-message"), result.status === 0 ? UNREACHABLE
          : (result.body.error || "The server could not check this device.") + " Reload the page to try again.");
      }
    });
  }

  linkForm.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(linkForm);
    var body = linkFields();
    var otpGroup = el("pos-link-otp-group");
    if (!otpGroup.hidden && el("pos-link-otp").value.trim()) {
      body.otp = el("pos-link-otp").value.trim();
      if (sentCode) {
        body.method = sentCode.method;
        body.challenge = sentCode.challenge;
      }
    }
    busy(linkForm, true);
    post(urls.linkUrl, body).then(function (result) {
      busy(linkForm, false);
      if (result.status === 200) {
        state.terminalKey = result.body.terminal.key;
        state.token = result.body.device_token;
        remember(state.terminalKey, state.token);
        showTerminal(result.body.terminal, null);
        log("info", "Device linked to terminal " + state.terminalKey + " by " + body.username);
        return;
      }
      if (result.body.errorcode === "mfarequired" || result.body.errorcode === "invalidotp") {
        otpGroup.hidden = false;  // what was typed stays; only the code is asked for
        if (result.body.methods) { offerMethods(result.body.methods); }
        el("pos-link-otp").select();
      }
      showError("pos-link", result);
    });
  });

  // Escape would leave an unusable page behind: the popup closes only by linking.
  dialog.addEventListener("cancel", function (event) { event.preventDefault(); });

  loginForm.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(loginForm);
    var body = { username: el("pos-login-username").value, password: el("pos-login-password").value };
    busy(loginForm, true);
    post(urls.loginUrl, body).then(function (result) {
      busy(loginForm, false);
      if (result.status === 200) {
        showTerminal(result.body.terminal, result.body.employee);
        log("info", "Employee " + result.body.employee.username + " signed in at terminal " + result.body.terminal.key);
      } else if (result.body.errorcode === "devicenotlinked") {
        deviceNotLinked();
      } else {
        showError("pos-login", result);
      }
    });
  });

  el("pos-logout").addEventListener("click", function () {
    var employee = state.employee;
    post(urls.logoutUrl).then(function (result) {
      if (result.status !== 200) { show(el("pos-message"), result.status === 0 ? UNREACHABLE : result.body.error); return; }
      show(el("pos-message"), "");
      state.employee = null;
      showLogin();
      if (employee) { log("info", "Employee " + employee.username + " logged out at terminal " + state.terminal.key); }
    });
  });

  start();
}());
