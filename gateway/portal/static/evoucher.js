// The e-voucher page: count down, and fetch a fresh token (POST /m/api/evoucher, the session's
// CSRF token in X-CSRF-Token) shortly before the shown one expires. No build step, no library.
(function () {
  "use strict";
  var qr = document.getElementById("qr");
  var left = document.getElementById("left");
  var err = document.getElementById("qr-error");
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var REFRESH_BEFORE_S = 15;
  var remaining = parseInt(qr.getAttribute("data-ttl"), 10) || 60;
  var busy = false;

  function refresh() {
    if (busy) { return; }
    busy = true;
    fetch("/m/api/evoucher", {method: "POST", credentials: "same-origin",
                              headers: {"X-CSRF-Token": csrf, "Content-Type": "application/json"}, body: "{}"})
      .then(function (r) {
        if (r.status === 401) { window.location = "/m/login?next=/m/evoucher"; return null; }
        return r.json().then(function (body) { return {ok: r.ok, body: body}; });
      })
      .then(function (res) {
        if (!res) { return; }
        if (!res.ok) { throw new Error(res.body.error ? res.body.error.message : "error"); }
        qr.innerHTML = res.body.svg;
        qr.setAttribute("data-token", res.body.token);
        remaining = res.body.ttl_s;
        err.classList.add("hidden");
      })
      .catch(function (e) { err.textContent = "刷新失败, 将重试 (refresh failed, retrying): " + e.message;
                            err.classList.remove("hidden"); remaining = REFRESH_BEFORE_S + 5; })
      .then(function () { busy = false; });
  }

  setInterval(function () {
    remaining -= 1;
    left.textContent = Math.max(0, remaining);
    if (remaining <= REFRESH_BEFORE_S) { refresh(); }
  }, 1000);
})();
