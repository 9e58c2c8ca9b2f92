// Mannerly web UI behaviour. No inline scripts anywhere (the Content-Security-Policy forbids them).
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // Every htmx request carries the session's CSRF token in a header.
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  var timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  var dateFormat = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short" });
  var dateTimeFormat = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });

  function relative(date) {
    var seconds = Math.round((Date.now() - date.getTime()) / 1000);
    if (seconds < 45) { return "now"; }
    if (seconds < 3600) { return Math.round(seconds / 60) + " min"; }
    if (seconds < 86400) { return Math.round(seconds / 3600) + " h"; }
    return dateFormat.format(date);
  }

  function isToday(date) {
    var today = new Date();
    return date.toDateString() === today.toDateString();
  }

  // Times are rendered in UTC by the server; show them in the reader's own time zone.
  function localiseTimes(root) {
    var nodes = (root || document).querySelectorAll("time[data-local]");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var date = new Date(node.getAttribute("datetime"));
      if (isNaN(date.getTime())) { continue; }
      var style = node.getAttribute("data-local");
      var text;
      if (style === "relative") { text = relative(date); }
      else if (style === "date") { text = isToday(date) ? "Today" : dateFormat.format(date); }
      else if (style === "datetime") { text = dateTimeFormat.format(date); }
      else { text = isToday(date) ? timeFormat.format(date) : dateTimeFormat.format(date); }
      node.textContent = text;
      node.title = dateTimeFormat.format(date);
    }
  }

  function scrollToBottom(root) {
    var nodes = (root || document).querySelectorAll("[data-scroll-bottom]");
    if (root && root.hasAttribute && root.hasAttribute("data-scroll-bottom")) { nodes = [root]; }
    for (var i = 0; i < nodes.length; i++) { nodes[i].scrollTop = nodes[i].scrollHeight; }
  }

  document.addEventListener("DOMContentLoaded", function () {
    localiseTimes(document);
    scrollToBottom(document);

    // Filters apply as soon as they change.
    var forms = document.querySelectorAll("form[data-autosubmit]");
    for (var i = 0; i < forms.length; i++) {
      forms[i].addEventListener("change", function (event) { event.currentTarget.submit(); });
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    localiseTimes(event.detail.target);
    scrollToBottom(event.detail.target);
  });
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    localiseTimes(event.detail.target);
  });

  // After the simulated phone sends, empty its text field for the next message.
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (event.detail.successful && form && form.hasAttribute && form.hasAttribute("data-reset-after")) {
      var input = form.querySelector('input[name="text"]');
      if (input) { input.value = ""; input.focus(); }
    }
  });

  // Ctrl+Enter (or Cmd+Enter) sends the reply.
  document.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && event.target && event.target.id === "composer-text") {
      var button = document.getElementById("send-button");
      if (button) { event.preventDefault(); button.click(); }
    }
  });
})();
