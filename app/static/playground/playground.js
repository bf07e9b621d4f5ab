/* Text removal playground: plain browser JavaScript, no dependencies, no build step.
 *
 * It uses the service's public API only: POST api/v1/detect-text (recognize: what each line says;
 * describe: how it looks, shown as a swatch per line), POST api/v1/inpaint-regions-async
 * (remove_text / keep_text patterns, lines ticked "keep" left out) (multipart: the image file plus the
 * regions as JSON), the task's WebSocket progress channel (with GET api/v1/task-status polling as a
 * fall-back), GET api/v1/task-result/{id}, POST api/v1/replace-text (each line's new text; the sizes
 * written come back in X-Font-Sizes / X-Text-Shrunk) and GET api/v1/fonts (the font choices).
 * All URLs are relative to the page, so the page also works behind a path prefix. Nothing the server
 * says is ever inserted as HTML: it goes in as text (textContent, title) or, colours, through CSSOM.
 *
 * <html data-state> tells where the page is: empty, ready, detecting, submitting, running, replacing,
 * done, failed; data-task-id the last task, data-progress-via how its progress arrived (websocket or
 * polling).
 */
(function () {
  "use strict";

  var $ = function (id) { return document.getElementById(id); };
  var ui = {
    root: document.documentElement,
    file: $("file"), fileInfo: $("file-info"),
    apiKey: $("api-key"), maskMode: $("mask-mode"), padding: $("padding"),
    removePatterns: $("remove-patterns"), keepPatterns: $("keep-patterns"),
    font: $("font"), align: $("align"), replace: $("replace-text"),
    find: $("find-text"), clear: $("clear-regions"), remove: $("remove-text"), cancel: $("cancel-task"),
    list: $("region-list"), count: $("region-count"), regionInfo: $("region-info"),
    canvas: $("canvas"), dropZone: $("drop-zone"), emptyHint: $("empty-hint"),
    error: $("error"),
    progressBox: $("progress-box"), bar: $("progress-bar"), pct: $("progress-pct"),
    stage: $("progress-stage"), message: $("progress-message"),
    results: $("results"), resultInfo: $("result-info"), before: $("before-img"), after: $("after-img"),
    download: $("download"), useResult: $("use-result"),
  };
  var ctx = ui.canvas.getContext("2d");
  var API_ROOT = new URL(".", location.href); // the service root (the page lives at <root>/playground)
  var BUSY = { detecting: true, submitting: true, running: true, replacing: true };
  var HEX = /^#[0-9a-f]{6}$/i; // a colour as describe gives it: the only form put into a style
  var MIN_DRAG_CSS_PX = 4; // a shorter drag is a click, not a box

  var st = {
    file: null,        // the File (or Blob) that is sent
    img: null,         // its decoded HTMLImageElement
    imgUrl: null,      // object URL of the source image
    regions: [],       // {type: "box", x, y, width, height} | {type: "polygon", points, score, text, textScore, keep}
                       // both may carry style (describe's), newText (typed), written or lineError (replace's answer)
    drag: null,        // {x0, y0, x1, y1} in image pixels while drawing
    hover: -1,         // index of the highlighted region
    task: null,        // the running task: {id, ws, poll, done, pct}
    resultBlob: null, resultUrl: null,
    resultSuffix: "-no-text", // of the download's name: what the result is
    fontsLoaded: false,
  };

  // ---------------------------------------------------------------- state and helpers

  function setState(name) {
    ui.root.dataset.state = name;
    var busy = !!BUSY[name];
    ui.file.disabled = busy;
    ui.find.disabled = busy || !st.img;
    ui.clear.disabled = busy || st.regions.length === 0;
    ui.remove.disabled = busy || !st.img || toRemove().length === 0;
    ui.remove.textContent = name === "running" || name === "submitting" ? "Removing…" : "Remove text";
    ui.replace.disabled = busy || !st.img || toRemove().length === 0;
    ui.replace.textContent = name === "replacing" ? "Replacing…" : "Replace text";
    Array.prototype.forEach.call(ui.list.querySelectorAll(".replace-input"), function (input) {
      input.readOnly = busy;
    });
    ui.find.textContent = name === "detecting" ? "Finding…" : "Find text";
    ui.cancel.hidden = name !== "running";
    ui.canvas.classList.toggle("locked", busy);
  }

  function state() { return ui.root.dataset.state; }
  function busy() { return !!BUSY[state()]; }
  function refreshButtons() { setState(state()); }

  function showError(text) {
    ui.error.textContent = text;
    ui.error.hidden = false;
  }

  function clearError() {
    ui.error.hidden = true;
    ui.error.textContent = "";
  }

  function apiKey() { return ui.apiKey.value.trim(); }

  function apiUrl(path) { return new URL(path, API_ROOT).toString(); }

  /** fetch() against the API, with the key; throws an Error carrying the server's `detail`. */
  function api(path, options) {
    options = options || {};
    var headers = new Headers(options.headers || {});
    if (apiKey()) headers.set("X-API-Key", apiKey());
    options.headers = headers;
    return fetch(apiUrl(path), options).then(function (res) {
      if (res.ok) return res;
      return res.text().then(function (body) {
        var detail = body, json = null;
        try { json = JSON.parse(body); detail = (json && json.detail) || body; } catch (e) { /* not JSON */ }
        if (typeof detail !== "string") detail = JSON.stringify(detail);
        var err = new Error(res.status + " " + (res.statusText || "error") + (detail ? ": " + detail : ""));
        err.status = res.status;
        err.detail = detail;
        err.body = json && typeof json === "object" ? json : null; // {detail, error, errors: [{loc, msg, type}]}
        if (res.status === 401 || res.status === 403) err.message += " (check the API key)";
        throw err;
      });
    }, function (e) {
      throw new Error("cannot reach the service: " + e.message);
    });
  }

  function fmtNum(v, digits) { return Number(v).toFixed(digits).replace(/\.0+$/, ""); }

  function round1(v) { return Math.round(v * 10) / 10; }

  function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }

  // ---------------------------------------------------------------- loading an image

  function loadFile(file) {
    if (!file) return;
    if (busy()) return;
    if (file.type && file.type.indexOf("image/") !== 0) {
      showError("“" + (file.name || "this file") + "” is not an image (" + file.type + ").");
      return;
    }
    clearError();
    var url = URL.createObjectURL(file);
    var img = new Image();
    img.onload = function () {
      resetTask();
      hideResults();
      if (st.imgUrl) URL.revokeObjectURL(st.imgUrl);
      st.file = file; st.img = img; st.imgUrl = url;
      st.regions = []; st.hover = -1; st.drag = null;
      ui.regionInfo.textContent = "";
      ui.canvas.width = img.naturalWidth;
      ui.canvas.height = img.naturalHeight;
      ui.dropZone.classList.add("has-image");
      ui.emptyHint.hidden = true;
      ui.fileInfo.textContent = (file.name || "image") + ": " + img.naturalWidth + " × " + img.naturalHeight +
        " px, " + fmtNum(file.size / 1024, 1) + " KB";
      ui.progressBox.hidden = true;
      renderList();
      draw();
      setState("ready");
    };
    img.onerror = function () {
      URL.revokeObjectURL(url);
      showError("Could not read “" + (file.name || "this file") + "” as an image.");
    };
    img.src = url;
  }

  ui.file.addEventListener("change", function () {
    if (ui.file.files && ui.file.files[0]) loadFile(ui.file.files[0]);
    ui.file.value = ""; // choosing the same file again still counts
  });

  ["dragenter", "dragover"].forEach(function (t) {
    ui.dropZone.addEventListener(t, function (ev) {
      ev.preventDefault();
      ui.dropZone.classList.add("dragging");
    });
  });
  ["dragleave", "drop"].forEach(function (t) {
    ui.dropZone.addEventListener(t, function () { ui.dropZone.classList.remove("dragging"); });
  });
  ui.dropZone.addEventListener("drop", function (ev) {
    ev.preventDefault();
    var files = ev.dataTransfer && ev.dataTransfer.files;
    if (files && files[0]) loadFile(files[0]);
  });
  document.addEventListener("paste", function (ev) {
    var items = (ev.clipboardData && ev.clipboardData.files) || [];
    if (items[0] && items[0].type.indexOf("image/") === 0) loadFile(items[0]);
  });

  // ---------------------------------------------------------------- drawing

  function tracePath(r) {
    ctx.beginPath();
    if (r.type === "polygon") {
      r.points.forEach(function (p, i) { if (i) ctx.lineTo(p[0], p[1]); else ctx.moveTo(p[0], p[1]); });
      ctx.closePath();
    } else {
      ctx.rect(r.x, r.y, r.width, r.height);
    }
  }

  function anchor(r) {
    if (r.type !== "polygon") return [r.x, r.y];
    var xs = r.points.map(function (p) { return p[0]; }), ys = r.points.map(function (p) { return p[1]; });
    return [Math.min.apply(null, xs), Math.min.apply(null, ys)];
  }

  function draw() {
    var c = ui.canvas;
    ctx.clearRect(0, 0, c.width, c.height);
    if (!st.img) return;
    ctx.drawImage(st.img, 0, 0);
    var k = c.width / Math.max(1, c.getBoundingClientRect().width); // image pixels per CSS pixel
    ctx.lineWidth = 2 * k;
    ctx.lineJoin = "round";
    st.regions.forEach(function (r, i) {
      var hot = i === st.hover;
      var rgb = r.keep ? "120, 120, 120" : r.type === "polygon" ? "0, 160, 150" : "230, 70, 50";
      tracePath(r);
      ctx.setLineDash(r.keep ? [4 * k, 4 * k] : []);
      ctx.fillStyle = "rgba(" + rgb + ", " + (hot ? 0.4 : 0.18) + ")";
      ctx.fill();
      ctx.strokeStyle = "rgb(" + rgb + ")";
      ctx.stroke();
      // the number, as in the list
      var a = anchor(r), fs = 12 * k, label = String(i + 1);
      ctx.font = "600 " + fs + "px system-ui, sans-serif";
      var w = ctx.measureText(label).width + 6 * k;
      var ly = a[1] - fs - 4 * k < 0 ? a[1] : a[1] - fs - 4 * k;
      ctx.fillStyle = "rgb(" + rgb + ")";
      ctx.fillRect(a[0], ly, w, fs + 4 * k);
      ctx.fillStyle = "#fff";
      ctx.textBaseline = "top";
      ctx.fillText(label, a[0] + 3 * k, ly + 2 * k);
    });
    if (st.drag) {
      var d = box(st.drag);
      ctx.setLineDash([6 * k, 4 * k]);
      ctx.strokeStyle = "rgb(230, 70, 50)";
      ctx.fillStyle = "rgba(230, 70, 50, 0.12)";
      ctx.fillRect(d.x, d.y, d.width, d.height);
      ctx.strokeRect(d.x, d.y, d.width, d.height);
      ctx.setLineDash([]);
    }
  }

  if (window.ResizeObserver) new ResizeObserver(function () { draw(); }).observe(ui.canvas);

  function box(d) {
    return {
      type: "box",
      x: round1(Math.min(d.x0, d.x1)), y: round1(Math.min(d.y0, d.y1)),
      width: round1(Math.abs(d.x1 - d.x0)), height: round1(Math.abs(d.y1 - d.y0)),
    };
  }

  function toImage(ev) {
    var r = ui.canvas.getBoundingClientRect();
    return [
      clamp((ev.clientX - r.left) * ui.canvas.width / r.width, 0, ui.canvas.width),
      clamp((ev.clientY - r.top) * ui.canvas.height / r.height, 0, ui.canvas.height),
    ];
  }

  function regionAt(p) {
    for (var i = st.regions.length - 1; i >= 0; i--) {
      tracePath(st.regions[i]);
      if (ctx.isPointInPath(p[0], p[1])) return i;
    }
    return -1;
  }

  function setHover(i) {
    if (i === st.hover) return;
    st.hover = i;
    Array.prototype.forEach.call(ui.list.children, function (li, j) { li.classList.toggle("hot", j === i); });
    draw();
  }

  ui.canvas.addEventListener("pointerdown", function (ev) {
    if (!st.img || busy() || ev.button !== 0) return;
    ev.preventDefault();
    ui.canvas.setPointerCapture(ev.pointerId);
    var p = toImage(ev);
    st.drag = { x0: p[0], y0: p[1], x1: p[0], y1: p[1], cx: ev.clientX, cy: ev.clientY };
  });

  ui.canvas.addEventListener("pointermove", function (ev) {
    if (!st.img) return;
    var p = toImage(ev);
    if (st.drag) {
      st.drag.x1 = p[0]; st.drag.y1 = p[1];
      draw();
    } else {
      setHover(regionAt(p));
    }
  });

  function endDrag(ev, keep) {
    if (!st.drag) return;
    var d = st.drag;
    st.drag = null;
    var moved = Math.abs(ev.clientX - d.cx) >= MIN_DRAG_CSS_PX && Math.abs(ev.clientY - d.cy) >= MIN_DRAG_CSS_PX;
    if (keep && moved) {
      var p = toImage(ev);
      d.x1 = p[0]; d.y1 = p[1];
      var b = box(d);
      if (b.width > 0 && b.height > 0) {
        st.regions.push(b);
        renderList();
        refreshButtons();
      }
    }
    draw();
  }

  ui.canvas.addEventListener("pointerup", function (ev) { endDrag(ev, true); });
  ui.canvas.addEventListener("pointercancel", function (ev) { endDrag(ev, false); });
  ui.canvas.addEventListener("pointerleave", function () { if (!st.drag) setHover(-1); });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && st.drag) { st.drag = null; draw(); }
  });

  // ---------------------------------------------------------------- the list of regions

  function describe(r) {
    if (r.text != null) {
      return "“" + r.text.trim() + "”" + (r.textScore != null ? " (" + fmtNum(r.textScore * 100, 0) + "%)" : "");
    }
    if (r.type === "polygon") {
      var a = anchor(r);
      return "text at (" + Math.round(a[0]) + ", " + Math.round(a[1]) + ")" +
        (r.score != null ? ", score " + fmtNum(r.score, 2) : "");
    }
    return "box " + Math.round(r.width) + " × " + Math.round(r.height) + " at (" + Math.round(r.x) + ", " +
      Math.round(r.y) + ")";
  }

  function renderList() {
    ui.list.textContent = "";
    st.regions.forEach(function (r, i) {
      var li = document.createElement("li");
      li.className = r.type;
      var text = document.createElement("span");
      text.className = "line-desc";
      text.textContent = describe(r);
      var rm = document.createElement("button");
      rm.type = "button";
      rm.className = "remove-region subtle small";
      rm.textContent = "✕";
      rm.title = "remove region " + (i + 1);
      rm.setAttribute("aria-label", "remove region " + (i + 1));
      rm.addEventListener("click", function () {
        if (busy()) return;
        st.regions.splice(i, 1);
        st.hover = -1;
        renderList();
        refreshButtons();
        draw();
      });
      li.addEventListener("mouseenter", function () { setHover(i); });
      li.addEventListener("mouseleave", function () { setHover(-1); });
      li.appendChild(text);
      var input = replaceInput(r, i);
      if (r.text != null) { // a line that was read: tick it to leave it alone
        var keep = document.createElement("label");
        keep.className = "keep-line";
        var tick = document.createElement("input");
        tick.type = "checkbox";
        tick.checked = !!r.keep;
        tick.setAttribute("aria-label", "keep line " + (i + 1));
        tick.addEventListener("change", function () {
          r.keep = tick.checked;
          li.classList.toggle("kept", r.keep);
          input.disabled = r.keep;
          refreshButtons();
          draw();
        });
        keep.appendChild(tick);
        keep.appendChild(document.createTextNode(" keep"));
        li.classList.toggle("kept", !!r.keep);
        li.appendChild(keep);
      }
      li.appendChild(rm);
      if (r.style) li.appendChild(styleSwatch(r.style, i));
      li.appendChild(input);
      var result = document.createElement("div");
      result.className = "line-result";
      if (r.lineError) {
        result.classList.add("error");
        result.textContent = r.lineError;
      } else if (r.written) {
        result.classList.toggle("shrunk", r.written.shrunk);
        result.textContent = r.written.size === "-" ? "removed, nothing written"
          : "written at " + r.written.size + " px" + (r.written.truncated ? ", too long for its box: cut"
            : r.written.shrunk ? ", shrunk to fit" : "");
      }
      li.appendChild(result);
      ui.list.appendChild(li);
    });
    ui.count.textContent = String(st.regions.length);
  }

  /** A small coloured square (colour from describe, checked, set through CSSOM: no inline style for the CSP). */
  function chip(kind, color, label) {
    var c = document.createElement("i");
    c.className = "chip " + kind;
    c.setAttribute("role", "img");
    c.setAttribute("aria-label", label);
    c.title = label;
    if (typeof color === "string" && HEX.test(color)) {
      c.dataset.color = color.toLowerCase();
      if (kind === "outline") c.style.borderColor = color; else c.style.backgroundColor = color;
    }
    return c;
  }

  function small(text, kind) {
    var el = document.createElement("small");
    if (kind) el.className = kind;
    el.textContent = text;
    return el;
  }

  /** Describe's measure of line i, shown: text and background colour, outline, shadow, then size, angle, face. */
  function styleSwatch(s, i) {
    var box = document.createElement("div");
    box.className = "line-style";
    box.setAttribute("aria-label", "how line " + (i + 1) + " looks");
    var px = function (v) { return fmtNum(v, 1) + " px"; };
    if (s.text_color) {
      var spread = s.text_color_spread != null ? " (spread " + fmtNum(s.text_color_spread, 1) + ")" : "";
      box.appendChild(chip("text-color", s.text_color, "text colour " + s.text_color + spread));
    }
    if (s.background_color) box.appendChild(chip("background-color", s.background_color, "background " + s.background_color));
    if (s.text_color || s.background_color) {
      box.appendChild(small((s.text_color || "?") + " on " + (s.background_color || "?"), "colors"));
    }
    if (s.outline) {
      var ow = chip("outline", s.outline.color, "outline " + s.outline.color + ", " + px(s.outline.width));
      ow.style.borderWidth = clamp(Math.round(Number(s.outline.width) || 1), 1, 4) + "px";
      box.appendChild(ow);
      box.appendChild(small("outline " + px(s.outline.width), "outline-width"));
    }
    if (s.shadow) {
      var off = s.shadow.offset || [0, 0];
      var sign = function (v) { return (v > 0 ? "+" : "") + fmtNum(v, 1); };
      var where = sign(off[0]) + ", " + sign(off[1]);
      box.appendChild(chip("shadow", s.shadow.color, "shadow " + s.shadow.color + ", offset " + where + " px"));
      box.appendChild(small("shadow " + where, "shadow-offset"));
    }
    var facts = [];
    if (s.font_size != null) facts.push(px(s.font_size));
    if (s.angle != null) facts.push(fmtNum(s.angle, 1) + "°");
    if (s.vertical) facts.push("vertical");
    if (s.bold != null) facts.push(s.bold ? "bold" : "regular");
    if (s.text_color_spread != null && s.text_color_spread >= 20) facts.push("mixed colours");
    if (facts.length) box.appendChild(small(facts.join(" · "), "facts"));
    return box;
  }

  /** The line's new text, typed; kept with the region, so that a redrawn list keeps it. */
  function replaceInput(r, i) {
    var input = document.createElement("input");
    input.type = "text";
    input.className = "replace-input";
    input.maxLength = 1000;
    input.spellcheck = false;
    input.value = r.newText || "";
    input.disabled = !!r.keep;
    input.readOnly = busy();
    input.placeholder = r.text != null && r.text.trim() ? "new text for “" + r.text.trim() + "”" : "new text (empty: only remove)";
    input.setAttribute("aria-label", "new text for line " + (i + 1));
    input.addEventListener("input", function () { r.newText = input.value; });
    input.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") { ev.preventDefault(); ui.replace.click(); }
    });
    return input;
  }

  ui.clear.addEventListener("click", function () {
    if (busy()) return;
    st.regions = []; st.hover = -1;
    renderList(); refreshButtons(); draw();
  });

  /** The regions to send: every one but the lines ticked "keep". */
  function toRemove() { return st.regions.filter(function (r) { return !r.keep; }); }

  /** A pattern list from a text area: one per line, blank lines ignored. */
  function patterns(area) {
    return area.value.split("\n").map(function (p) { return p.trim(); }).filter(function (p) { return p; });
  }

  function regionForApi(r) {
    if (r.type === "polygon") return { points: r.points };
    return { x: r.x, y: r.y, width: r.width, height: r.height };
  }

  // ---------------------------------------------------------------- find text

  ui.find.addEventListener("click", function () {
    if (!st.file || busy()) return;
    clearError();
    var fd = new FormData();
    fd.append("image", st.file, st.file.name || "image.png");
    fd.append("recognize", "true");
    fd.append("describe", "true");
    var boxes = st.regions.filter(function (r) { return r.type === "box"; });
    if (boxes.length) fd.append("regions", JSON.stringify(boxes.map(regionForApi)));
    setState("detecting");
    api("api/v1/detect-text", { method: "POST", body: fd })
      .then(function (res) { return res.json(); })
      .then(function (data) {
        var found = (data.regions || []).map(function (r) {
          if (r.points && r.points.length >= 3) {
            return { type: "polygon", points: r.points, score: r.score, text: r.text, textScore: r.text_score, keep: false,
                     style: r.style || null };
          }
          var b = r.bounding_box || r;
          return { type: "box", x: b.x, y: b.y, width: b.width, height: b.height, style: r.style || null };
        });
        var where = boxes.length ? " inside your " + boxes.length + " box(es)" : "";
        var secs = data.processing_time != null ? " in " + fmtNum(data.processing_time, 2) + " s" : "";
        if (found.length) {
          st.regions = found;
          ui.regionInfo.textContent = "Found " + found.length + " text line(s)" + where + secs + ".";
        } else {
          ui.regionInfo.textContent = "No text found" + where + secs + "; your regions are unchanged.";
        }
        st.hover = -1;
        renderList();
        draw();
        setState("ready");
      })
      .catch(function (e) {
        var msg = e.status === 404 || e.status === 405
          ? "This server has no text detection (" + e.message + ")." : "Find text failed: " + e.message;
        showError(msg);
        setState("ready");
      });
  });

  // ---------------------------------------------------------------- remove text: submit, follow, fetch

  ui.remove.addEventListener("click", function () {
    if (!st.file || !toRemove().length || busy()) return;
    clearError();
    resetTask();
    var fd = new FormData();
    fd.append("image", st.file, st.file.name || "image.png");
    fd.append("regions", JSON.stringify(toRemove().map(regionForApi)));
    var removeText = patterns(ui.removePatterns), keepText = patterns(ui.keepPatterns);
    if (removeText.length) fd.append("remove_text", JSON.stringify(removeText));
    if (keepText.length) fd.append("keep_text", JSON.stringify(keepText));
    if (ui.maskMode.value) fd.append("mask_mode", ui.maskMode.value);
    if (ui.padding.value.trim() !== "") fd.append("padding", ui.padding.value.trim());
    setState("submitting");
    showProgress({ stage: "submitting", overall_progress: 0, message: "uploading the image…" }, true);
    api("api/v1/inpaint-regions-async", { method: "POST", body: fd })
      .then(function (res) { return res.json(); })
      .then(follow)
      .catch(function (e) {
        ui.progressBox.hidden = true;
        showError("Remove text failed: " + e.message);
        setState(st.img ? "ready" : "empty");
      });
  });

  // ---------------------------------------------------------------- replace text: one request, the image back

  /** A header of comma-separated values, one per line sent ([] when absent). */
  function perLine(res, name) {
    var v = res.headers.get(name);
    return v == null || v === "" ? [] : v.split(",").map(function (x) { return x.trim(); });
  }

  /** A 4xx naming lines (errors[].loc = ["lines", k, ...]): its detail, or the error's msg, next to each line named. */
  function lineErrors(sent, e) {
    var errors = e.body && Array.isArray(e.body.errors) ? e.body.errors : [];
    var named = 0;
    errors.forEach(function (er, n) {
      var loc = er && Array.isArray(er.loc) ? er.loc : [];
      var at = loc.indexOf("lines");
      var k = at >= 0 ? loc[at + 1] : null;
      if (typeof k !== "number" || !sent[k]) return;
      // the detail tells the first error in full; the others, their place and msg
      var text = n === 0 && e.detail ? e.detail : loc.slice(at).join(".") + ": " + String(er.msg);
      sent[k].lineError = sent[k].lineError ? sent[k].lineError + "; " + text : text;
      named++;
    });
    var m = !named && e.detail ? /^lines(?:\[(\d+)\]|\.(\d+))/.exec(e.detail) : null;
    if (m && sent[Number(m[1] || m[2])]) { sent[Number(m[1] || m[2])].lineError = e.detail; named++; }
    return named;
  }

  ui.replace.addEventListener("click", function () {
    var sent = toRemove(); // the lines ticked "keep" are left alone; an empty text is sent (removed, nothing written)
    if (!st.file || !sent.length || busy()) return;
    clearError();
    resetTask();
    ui.progressBox.hidden = true;
    st.regions.forEach(function (r) { r.written = null; r.lineError = null; });
    var font = ui.font.value, align = ui.align.value || "start";
    var lines = sent.map(function (r) {
      var line = { region: regionForApi(r), text: r.newText || "", align: align };
      if (font) line.style = { font: font };
      return line;
    });
    var fd = new FormData();
    fd.append("image", st.file, st.file.name || "image.png");
    fd.append("lines", JSON.stringify(lines));
    if (ui.maskMode.value) fd.append("mask_mode", ui.maskMode.value);
    if (ui.padding.value.trim() !== "") fd.append("padding", ui.padding.value.trim());
    setState("replacing");
    renderList();
    var info = "";
    api("api/v1/replace-text", { method: "POST", body: fd })
      .then(function (res) {
        var sizes = perLine(res, "X-Font-Sizes"), shrunk = perLine(res, "X-Text-Shrunk");
        var cut = perLine(res, "X-Text-Truncated");
        sent.forEach(function (r, k) {
          if (sizes[k] != null) r.written = { size: sizes[k], shrunk: shrunk[k] === "true", truncated: cut[k] === "true" };
        });
        var written = sizes.filter(function (v) { return v !== "-"; }).length;
        var smaller = shrunk.filter(function (v) { return v === "true"; }).length;
        var secs = res.headers.get("X-Processing-Time");
        info = sent.length + " line(s): " + written + " written" + (smaller ? " (" + smaller + " shrunk to fit)" : "") +
          ", " + (sent.length - written) + " only removed" + (secs ? " in " + fmtNum(Number(secs), 2) + " s" : "");
        return res.blob();
      })
      .then(function (blob) { return showResult(blob, "-new-text", "image with the new text"); })
      .then(function () {
        ui.resultInfo.textContent = info;
        renderList();
        ui.results.hidden = false;
        setState("done");
        ui.results.scrollIntoView({ behavior: "smooth", block: "nearest" });
      })
      .catch(function (e) {
        lineErrors(sent, e);
        renderList();
        showError("Replace text failed: " + e.message);
        setState(st.img ? "ready" : "empty");
      });
  });

  // ---------------------------------------------------------------- fonts to choose from (GET api/v1/fonts)

  function loadFonts() {
    if (st.fontsLoaded) return;
    api("api/v1/fonts")
      .then(function (res) { return res.json(); })
      .then(function (data) {
        if (st.fontsLoaded) return;
        var seen = {}, group = document.createElement("optgroup");
        group.label = "installed";
        (data.fonts || []).forEach(function (f) {
          if (!f || typeof f.family !== "string" || seen[f.family]) return;
          seen[f.family] = true;
          var o = document.createElement("option");
          o.value = f.family;
          o.textContent = f.family + (f.kind ? " (" + f.kind + ")" : "");
          group.appendChild(o);
        });
        if (!group.children.length) return;
        ui.font.appendChild(group);
        st.fontsLoaded = true;
        ui.root.dataset.fonts = String(group.children.length);
      })
      .catch(function () { /* sans and serif are offered either way; tried again when the key changes */ });
  }

  function wsUrl(given, taskId) {
    var u = null;
    if (given) { try { u = new URL(given, location.href); } catch (e) { u = null; } }
    if (!u) u = new URL("api/v1/ws/progress/" + encodeURIComponent(taskId), API_ROOT);
    if (u.protocol === "http:") u.protocol = "ws:";
    if (u.protocol === "https:") u.protocol = "wss:";
    if (location.protocol === "https:" && u.protocol === "ws:") u.protocol = "wss:"; // no mixed content
    if (apiKey()) u.searchParams.set("api_key", apiKey());
    return u.toString();
  }

  function follow(sub) {
    var task = { id: sub.task_id, ws: null, poll: null, done: false, pct: 0 };
    st.task = task;
    ui.root.dataset.taskId = task.id;
    delete ui.root.dataset.progressVia;
    setState("running");
    showProgress({ status: sub.status, stage: sub.status || "pending", overall_progress: 0,
                   message: sub.message || "queued" });
    var ws;
    try {
      ws = new WebSocket(wsUrl(sub.websocket_url, task.id));
    } catch (e) {
      poll(task);
      return;
    }
    task.ws = ws;
    ws.onmessage = function (ev) {
      if (task === st.task) ui.root.dataset.progressVia = "websocket";
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      onMessage(task, m);
    };
    ws.onclose = function () { if (!task.done) poll(task); }; // lost (or refused): poll the status instead
  }

  function onMessage(task, m) {
    if (task !== st.task || task.done || !m || typeof m !== "object") return;
    if (m.task_id && m.task_id !== task.id) return;
    switch (m.type) {
      case "progress_update":
        showProgress(m);
        if (m.status === "error") fail(task, m.error_message || m.error || "the task failed");
        else if (m.status === "cancelled") fail(task, "The task was cancelled.");
        // on "completed", task_completed follows at once; it is what fetches the result
        break;
      case "task_completed":
        complete(task, m);
        break;
      case "task_failed":
        fail(task, m.error_message || m.error || "the task failed");
        break;
      case "task_cancelled":
        fail(task, "The task was cancelled.");
        break;
      default: // connection_established, task_subscribed, pong, error (about a message we did not send)
        break;
    }
  }

  /** The fall-back when no WebSocket can be had: ask for the status once a second. */
  function poll(task) {
    if (task.poll || task.done) return;
    ui.root.dataset.progressVia = "polling";
    var misses = 0;
    task.poll = setInterval(function () {
      if (task.done || task !== st.task) { clearInterval(task.poll); return; }
      api("api/v1/task-status/" + encodeURIComponent(task.id))
        .then(function (res) { return res.json(); })
        .then(function (s) {
          misses = 0;
          if (task.done) return;
          showProgress(s);
          if (s.status === "completed") complete(task, s);
          else if (s.status === "error") fail(task, s.error || s.message || "the task failed");
          else if (s.status === "cancelled") fail(task, "The task was cancelled.");
        })
        .catch(function (e) {
          if (e.status === 404 || ++misses >= 10) fail(task, "Lost the task: " + e.message);
        });
    }, 1000);
  }

  function stopFollowing(task) {
    task.done = true;
    if (task.poll) clearInterval(task.poll);
    if (task.ws && task.ws.readyState <= 1) {
      task.ws.onclose = null;
      try { task.ws.close(1000); } catch (e) { /* already closing */ }
    }
  }

  function resetTask() {
    if (st.task) stopFollowing(st.task);
    st.task = null;
  }

  function showProgress(m, reset) {
    var task = st.task;
    var raw = m.overall_progress != null ? m.overall_progress : m.progress;
    var pct = clamp(Number(raw) || 0, 0, 100);
    if (task && !reset) { pct = Math.max(task.pct, pct); task.pct = pct; } // never goes back
    ui.progressBox.hidden = false;
    ui.progressBox.classList.remove("failed", "complete");
    ui.bar.style.width = pct + "%";
    ui.bar.parentNode.setAttribute("aria-valuenow", String(Math.round(pct)));
    ui.pct.textContent = Math.round(pct) + "%";
    ui.stage.textContent = m.stage || m.status || "";
    var msg = m.message || "";
    if (m.total_regions && m.current_region) msg += (msg ? " · " : "") + "region " + m.current_region + " of " + m.total_regions;
    if (m.estimated_remaining > 0) msg += (msg ? " · " : "") + "about " + fmtNum(m.estimated_remaining, 1) + " s left";
    ui.message.textContent = msg;
  }

  function complete(task, m) {
    if (task.done) return;
    stopFollowing(task);
    showProgress({ stage: "finalizing", overall_progress: 100, message: "fetching the result…" });
    api("api/v1/task-result/" + encodeURIComponent(task.id))
      .then(function (res) { return res.blob(); })
      .then(function (blob) {
        if (task !== st.task) return null;
        return showResult(blob, "-no-text", "image with the text removed");
      })
      .then(function (ok) {
        if (!ok) return;
        var secs = m.elapsed_time != null ? " in " + fmtNum(m.elapsed_time, 2) + " s" : "";
        var n = m.total_regions != null ? m.total_regions : toRemove().length;
        ui.resultInfo.textContent = n + " region(s)" + secs;
        linesSummary(task);
        ui.stage.textContent = "completed";
        ui.message.textContent = "done" + secs;
        ui.progressBox.classList.add("complete");
        ui.results.hidden = false;
        setState("done");
        ui.results.scrollIntoView({ behavior: "smooth", block: "nearest" });
      })
      .catch(function (e) { fail(task, "Could not fetch the result: " + e.message, true); });
  }

  /** The result (blob) next to the image it came from, and its download link; resolves once both show. */
  function showResult(blob, suffix, alt) {
    if (st.resultUrl) URL.revokeObjectURL(st.resultUrl);
    st.resultBlob = blob;
    st.resultUrl = URL.createObjectURL(blob);
    st.resultSuffix = suffix;
    ui.before.src = st.imgUrl;
    ui.after.src = st.resultUrl;
    ui.after.alt = alt;
    var ext = (blob.type.split("/")[1] || "png").replace("jpeg", "jpg");
    var base = ((st.file && st.file.name) || "image").replace(/\.[^.]+$/, "");
    ui.download.href = st.resultUrl;
    ui.download.download = base + suffix + "." + ext;
    return Promise.all([decoded(ui.before), decoded(ui.after)]);
  }

  /** With patterns, what the task says it removed and kept (its status's text_lines). */
  function linesSummary(task) {
    api("api/v1/task-status/" + encodeURIComponent(task.id))
      .then(function (res) { return res.json(); })
      .then(function (s) {
        var t = s.processing_stats && s.processing_stats.text_lines;
        if (!t || task !== st.task) return;
        var text = " · lines: " + t.removed + " removed, " + t.partly_removed + " in part, " + t.kept + " kept";
        if (t.unmatched_patterns && t.unmatched_patterns.length) text += " · matched nothing: " + t.unmatched_patterns.join(", ");
        ui.resultInfo.textContent += text;
      })
      .catch(function () { /* the summary is extra: the result is shown either way */ });
  }

  function decoded(img) {
    return img.decode ? img.decode().then(function () { return true; })
      : new Promise(function (ok, bad) { img.onload = function () { ok(true); }; img.onerror = bad; });
  }

  function fail(task, text, force) {
    if (task.done && !force) return;
    stopFollowing(task);
    ui.progressBox.hidden = false;
    ui.progressBox.classList.add("failed");
    ui.stage.textContent = /cancel/i.test(text) ? "cancelled" : "failed";
    showError(text);
    setState("failed");
  }

  ui.cancel.addEventListener("click", function () {
    var task = st.task;
    if (!task || task.done) return;
    ui.cancel.disabled = true;
    api("api/v1/cancel-task/" + encodeURIComponent(task.id), { method: "POST" })
      .catch(function (e) { if (e.status !== 409) showError("Cancel failed: " + e.message); })
      .then(function () { ui.cancel.disabled = false; });
  });

  function hideResults() {
    ui.results.hidden = true;
    ui.before.removeAttribute("src");
    ui.after.removeAttribute("src");
    if (st.resultUrl) URL.revokeObjectURL(st.resultUrl);
    st.resultUrl = null; st.resultBlob = null;
  }

  ui.useResult.addEventListener("click", function () {
    if (!st.resultBlob || busy()) return;
    var name = ((st.file && st.file.name) || "image").replace(/\.[^.]+$/, "") + st.resultSuffix + "." +
      (st.resultBlob.type.split("/")[1] || "png");
    var file = new File([st.resultBlob], name, { type: st.resultBlob.type });
    loadFile(file);
    window.scrollTo({ top: 0, behavior: "smooth" });
  });

  // ---------------------------------------------------------------- API key (kept for this tab only)

  try { ui.apiKey.value = sessionStorage.getItem("playground.apiKey") || ""; } catch (e) { /* storage off */ }
  ui.apiKey.addEventListener("change", function () {
    try { sessionStorage.setItem("playground.apiKey", apiKey()); } catch (e) { /* storage off */ }
    loadFonts();
  });
  if (apiKey()) ui.apiKey.closest("details").open = true;
  loadFonts();

  setState("empty");
})();
