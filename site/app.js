// The hashtag page: "/" searches and lists what is trending, "/tags/{tag}"
// shows a hashtag's count and its Top and Recent posts. Everything a
// reader wrote (captions, hashtags, ids) reaches the DOM as text, never as
// markup.
"use strict";
(function () {
  var main = document.getElementById("main");

  function el(tag, attrs) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") e.textContent = attrs[k];
      else e.setAttribute(k, attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) e.appendChild(arguments[i]);
    return e;
  }

  function show() {
    main.replaceChildren.apply(main, arguments);
  }

  // state shows a message in place of the content: id names it for tests
  // and styles, retry (optional) adds a button that loads again.
  function state(id, message, retry) {
    var p = el("p", { id: id, class: "state", role: "status", text: message });
    if (retry) {
      var b = el("button", { type: "button", text: "Try again" });
      b.addEventListener("click", retry);
      p.appendChild(b);
    }
    show(p);
  }

  // A reader's reload asks the network (the CDN) again, where the page's
  // stale-while-revalidate would otherwise show the copy the browser has;
  // any other visit may use it.
  var nav = performance.getEntriesByType && performance.getEntriesByType("navigation")[0];
  var reloaded = nav && nav.type === "reload";

  // load fetches JSON: {status, body}; a network error is status 0.
  function load(url) {
    return fetch(url, { headers: { Accept: "application/json" }, cache: reloaded ? "no-cache" : "default" }).then(
      function (r) {
        return r.json().then(
          function (body) { return { status: r.status, body: body }; },
          function () { return { status: r.status, body: null }; });
      },
      function () { return { status: 0, body: null }; });
  }

  // srcset lists url at each width: the URL's signature covers every
  // width the page lists, and w is its first query parameter.
  function srcset(url, widths) {
    return widths.map(function (w) {
      return url.replace(/\?w=\d+/, "?w=" + w) + " " + w + "w";
    }).join(", ");
  }

  var nf = new Intl.NumberFormat();

  function tile(p, widths) {
    var f = el("figure", { class: "tile", tabindex: "0", "data-post": p.user_id + "/" + p.post_id });
    if (p.image_url) {
      var img = el("img", {
        src: p.image_url, alt: p.caption || "", loading: "lazy", decoding: "async",
        sizes: "(max-width: 940px) 33vw, 310px"
      });
      if (widths && widths.length) img.setAttribute("srcset", srcset(p.image_url, widths));
      f.appendChild(img);
    } else {
      f.appendChild(el("div", { class: "text", text: p.caption || "" }));
    }
    f.appendChild(el("figcaption", { text: p.caption || "" }));
    f.appendChild(el("span", { class: "likes", "aria-label": p.like_count + " likes", text: "\u2665 " + nf.format(p.like_count) }));
    // A tap shows the caption on a phone, which has no hover.
    f.addEventListener("click", function () { f.classList.toggle("open"); });
    return f;
  }

  function grid(id, title, posts, widths) {
    var s = el("section", { id: id }, el("h2", { text: title }));
    if (!posts || !posts.length) {
      s.appendChild(el("p", { class: "count", text: "No posts yet." }));
      return s;
    }
    var g = el("div", { class: "grid" });
    posts.forEach(function (p) { g.appendChild(tile(p, widths)); });
    s.appendChild(g);
    return s;
  }

  function tagPage(tag) {
    document.title = "#" + tag + " \u00b7 tagstream";
    state("loading", "Loading #" + tag + "\u2026");
    load("/v1/hashtags/" + encodeURIComponent(tag)).then(function (r) {
      if (r.status === 404) {
        state("unknown", "No posts with #" + tag + " yet.");
        return;
      }
      if (r.status !== 200 || !r.body) {
        state("failed", "Could not load #" + tag + (r.status ? " (HTTP " + r.status + ")." : " (no connection)."),
          function () { tagPage(tag); });
        return;
      }
      var pg = r.body;
      document.title = "#" + pg.hashtag + " \u00b7 tagstream";
      show(
        el("h1", { id: "hashtag", text: "#" + pg.hashtag }),
        el("p", { id: "count", class: "count", "data-count": String(pg.post_count),
          text: nf.format(pg.post_count) + (pg.post_count === 1 ? " post" : " posts") }),
        grid("top", "Top", pg.top_posts, pg.image_widths),
        grid("recent", "Recent", pg.recent_posts, pg.image_widths));
    });
  }

  function homePage() {
    document.title = "tagstream";
    var list = el("ol", { class: "trending", id: "trending" });
    show(el("h1", { text: "Hashtags" }), el("h2", { text: "Most active this hour" }), list);
    load("/v1/trending").then(function (r) {
      if (r.status !== 200 || !r.body) {
        list.replaceWith(el("p", { id: "failed", class: "state", text: "Trending hashtags are unavailable right now." }));
        return;
      }
      if (!r.body.hashtags.length) {
        list.replaceWith(el("p", { id: "quiet", class: "state", text: "Nothing is trending yet: post something with a #hashtag." }));
        return;
      }
      r.body.hashtags.forEach(function (h) {
        list.appendChild(el("li", null, el("a", { href: "/tags/" + encodeURIComponent(h.key) },
          document.createTextNode("#" + h.hashtag), el("small", { text: nf.format(h.posts) }))));
      });
    });
  }

  document.getElementById("search").addEventListener("submit", function (e) {
    var q = document.getElementById("q").value.trim().replace(/^[#\uFF03]+/, "");
    e.preventDefault();
    if (q) location.assign("/tags/" + encodeURIComponent(q));
  });

  var m = location.pathname.match(/^\/tags\/(.+)$/);
  if (m) {
    var tag;
    try { tag = decodeURIComponent(m[1]); } catch (_) { tag = m[1]; }
    document.getElementById("q").value = "#" + tag;
    tagPage(tag);
  } else {
    homePage();
  }
})();
