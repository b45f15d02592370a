// The review page: label with the keyboard and move to the next item without reloading.
// p pass, f fail, s skip, c comment (Enter keeps it for the verdict, Escape leaves the box).
// Like dashboard.js it never builds HTML from data: every value goes in through textContent.
(function () {
  "use strict";

  var MAX_SKIPPED = 99;

  function init() {
    var root = document.getElementById("review");
    if (!root) return;
    var article = document.getElementById("review-item");
    var empty = document.getElementById("review-empty");
    var form = document.getElementById("label-form");
    var comment = document.getElementById("review-comment");
    var status = document.getElementById("review-status");
    var counter = document.getElementById("labeled-count");
    var actions = root.querySelector(".review-actions");
    var nextUrl = root.getAttribute("data-next-url");
    var canLabel = root.getAttribute("data-can-label") === "yes";
    var csrf = form ? form.querySelector('input[name="csrf_token"]').value : "";
    var skipped = new URL(window.location.href).searchParams.getAll("skip");
    var labeled = 0;
    var busy = false;

    function current() {
      return article.getAttribute("data-result-id") || "";
    }

    function slot(name) {
      return article.querySelector('[data-slot="' + name + '"]');
    }

    function box(name, value) {
      var el = article.querySelector('[data-box="' + name + '"]');
      el.hidden = !value;
      slot(name).textContent = value || "";
    }

    function el(tag, className, text) {
      var node = document.createElement(tag);
      if (className) node.className = className;
      if (text !== undefined && text !== null) node.textContent = String(text);
      return node;
    }

    function badge(value) {
      return el("span", "badge st-" + String(value).replace(/[^a-z]/g, ""), value);
    }

    function say(text, isError) {
      status.textContent = text;
      status.className = isError ? "error" : "";
    }

    function show(item) {
      if (!item) {
        article.hidden = true;
        article.setAttribute("data-result-id", "");
        if (actions) actions.hidden = true;
        empty.hidden = false;
        return;
      }
      article.setAttribute("data-result-id", item.id);
      slot("reason").textContent = item.reason;
      slot("case").textContent = item.case + (item.repeat > 1 ? " (repeat " + item.repeat + ")" : "");
      var run = slot("run");
      run.href = "/runs/" + encodeURIComponent(item.run_id);
      run.textContent = "run " + String(item.run_id).split("-")[0];
      slot("agent_version").textContent = item.agent_version;
      slot("status").replaceChildren(badge(item.status));
      slot("score").textContent = Number(item.score).toFixed(2);
      slot("labels").textContent = item.labels + (item.labels === 1 ? " label" : " labels");
      var input = slot("input");
      input.hidden = item.input === null;
      input.textContent = item.input || "";
      slot("conversation").replaceChildren.apply(
        slot("conversation"),
        item.conversation.map(function (m) {
          var turn = el("div", "turn");
          turn.append(el("span", "role", m.role), el("pre", "text", m.content));
          return turn;
        })
      );
      box("expected", item.expected);
      slot("output").textContent = item.output === null ? "" : item.output;
      box("error", item.error);
      slot("checks").replaceChildren.apply(
        slot("checks"),
        item.checks.map(function (c) {
          var check = el("div", c.judge ? "check judge" : "check");
          if (c.criterion) {
            var rubric = el("div", "rubric");
            rubric.append(el("span", "label", "Rubric"), el("p", "text", c.criterion));
            check.append(rubric);
          }
          var head = el("div", "check-head");
          var detail = "check " + c.index + " · score " + Number(c.score).toFixed(2);
          if (c.threshold !== null) detail += " · threshold " + c.threshold;
          head.append(badge(c.status), " ", el("code", "", c.type), " ", el("span", "sub", detail));
          check.append(head);
          if (c.reason) check.append(el("p", "text reasoning", c.reason));
          return check;
        })
      );
      if (form) {
        form.querySelector('input[name="result_id"]').value = item.id;
        comment.value = "";
      }
      article.hidden = false;
      if (actions) actions.hidden = false;
      empty.hidden = true;
      window.scrollTo(0, 0);
    }

    function fetchNext(exclude) {
      var url = new URL(nextUrl, window.location.href);
      exclude.slice(-MAX_SKIPPED).forEach(function (id) {
        url.searchParams.append("skip", id);
      });
      return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(answer);
    }

    function answer(response) {
      return response.json().then(function (body) {
        if (!response.ok) {
          var message = body && body.error ? body.error.message : "HTTP " + response.status;
          throw new Error(message);
        }
        return body;
      });
    }

    function postLabel(id, passed, text) {
      return fetch("/ui/api/results/" + encodeURIComponent(id) + "/labels", {
        method: "POST",
        credentials: "same-origin",
        headers: {
          Accept: "application/json",
          "Content-Type": "application/json",
          "X-CSRF-Token": csrf,
        },
        body: JSON.stringify({ passed: passed, comment: text || null }),
      }).then(answer);
    }

    function move(work, done) {
      busy = true;
      say("…", false);
      work
        .then(function (result) {
          done(result);
          say("", false);
        })
        .catch(function (error) {
          say(error.message, true);
        })
        .then(function () {
          busy = false;
        });
    }

    function verdict(passed) {
      var id = current();
      if (!id || busy) return;
      if (!canLabel) {
        say("This key can read only: labeling needs the 'write' scope.", true);
        return;
      }
      // The next item is asked for while the label is written: it leaves this one out.
      var next = fetchNext(skipped.concat([id]));
      move(Promise.all([postLabel(id, passed, comment ? comment.value.trim() : ""), next]), function (both) {
        labeled += 1;
        counter.textContent = String(labeled);
        show(both[1].item);
      });
    }

    function skip() {
      var id = current();
      if (!id || busy) return;
      skipped.push(id);
      move(fetchNext(skipped), function (body) {
        show(body.item);
      });
    }

    if (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var button = event.submitter;
        if (button && button.value) verdict(button.value === "pass");
      });
      comment.addEventListener("keydown", function (event) {
        if ((event.key === "Enter" && !event.shiftKey) || event.key === "Escape") {
          event.preventDefault();
          comment.blur();
          if (event.key === "Enter" && comment.value.trim()) {
            say("Comment kept: p or f sends it with the verdict.", false);
          }
        }
      });
    }
    var skipLink = document.getElementById("skip-link");
    if (skipLink) {
      skipLink.addEventListener("click", function (event) {
        event.preventDefault();
        skip();
      });
    }

    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
      var target = event.target;
      if (target && target.closest && target.closest("input, textarea, select, [contenteditable]")) {
        return;
      }
      var key = event.key.toLowerCase();
      if (key === "p" || key === "f") {
        event.preventDefault();
        verdict(key === "p");
      } else if (key === "s") {
        event.preventDefault();
        skip();
      } else if (key === "c" && comment && !article.hidden) {
        event.preventDefault();
        comment.focus();
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
