"""The review block of the feature section: each confirmed failure with "label right / label wrong / unclear".

The block is plain HTML with one small script. Verdicts go, in order of preference:

1. to the service (``POST /v1/reviews``) when the page is served by ``featuretest serve`` under
   ``/report/``: it merges them into ``reviews.json`` beside ``results.json``;
2. otherwise to the browser's local storage, and the "Download reviews.json" button saves every
   verdict (those the run found in ``reviews.json`` plus the new ones) as a file to put beside
   ``results.json``.

The counts above the cards are recomputed in the page whenever a verdict changes.
"""
from __future__ import annotations

import base64
import html
import io
import json

import numpy as np

from ..style import class_label

VERDICTS = ("label right", "label wrong", "unclear")
#: Shown width of the case images (pixels); small images are enlarged without smoothing.
THUMB = 84

_SCRIPT = """
(function () {
  var root = document.getElementById('review');
  if (!root) return;
  var key = 'tf-featuretest-reviews:' + location.pathname;
  var reviews = JSON.parse(document.getElementById('review-initial').textContent || '{}');
  var local = {};
  try { local = JSON.parse(localStorage.getItem(key) || '{}'); } catch (e) { local = {}; }
  function merge(into, from) {
    Object.keys(from).forEach(function (k) {
      if (!into[k] || (from[k].time || 0) >= (into[k].time || 0)) into[k] = from[k];
    });
  }
  merge(reviews, local);
  var served = location.protocol.indexOf('http') === 0 && location.pathname.indexOf('/report/') >= 0;
  var status = document.getElementById('review-status');
  function show() {
    var counts = {'label right': 0, 'label wrong': 0, 'unclear': 0}, cards = root.querySelectorAll('.review-card');
    cards.forEach(function (card) {
      var r = reviews[card.dataset.case];
      card.querySelectorAll('button').forEach(function (b) {
        b.setAttribute('aria-pressed', r && r.verdict === b.dataset.verdict ? 'true' : 'false');
      });
      if (r) counts[r.verdict] += 1;
    });
    var done = counts['label right'] + counts['label wrong'] + counts['unclear'];
    document.getElementById('review-counts').textContent = 'Reviewed ' + done + ' of ' + cards.length +
      ': label right (a human-confirmed failure) ' + counts['label right'] + ', label wrong ' +
      counts['label wrong'] + ', unclear ' + counts['unclear'] + '.';
  }
  function save(caseId, verdict) {
    var entry = {verdict: verdict, time: Date.now() / 1000};
    reviews[caseId] = entry; local[caseId] = entry;
    try { localStorage.setItem(key, JSON.stringify(local)); } catch (e) {}
    show();
    if (!served) {
      status.textContent = 'Saved in this browser; use "Download reviews.json" to keep it beside results.json.';
      return;
    }
    var body = {}; body[caseId] = entry;
    fetch('/v1/reviews', {method: 'POST', headers: {'Content-Type': 'application/json'}, credentials: 'same-origin',
                          body: JSON.stringify({reviews: body})})
      .then(function (r) { status.textContent = r.ok ? 'Saved to reviews.json on the server.' :
                                                 'The server did not save it (' + r.status + '); kept in this browser.'; })
      .catch(function () { status.textContent = 'The server is not reachable; kept in this browser.'; });
  }
  root.addEventListener('click', function (ev) {
    var b = ev.target.closest('button[data-verdict]');
    if (b) save(b.closest('.review-card').dataset.case, b.dataset.verdict);
  });
  document.getElementById('review-download').addEventListener('click', function () {
    var blob = new Blob([JSON.stringify({format: 1, reviews: reviews}, null, 1)], {type: 'application/json'});
    var a = document.createElement('a');
    a.href = URL.createObjectURL(blob); a.download = 'reviews.json'; a.click();
  });
  if (served) {
    fetch('/v1/reviews', {credentials: 'same-origin'}).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d && d.reviews) { merge(reviews, d.reviews); show(); } }).catch(function () {});
  }
  show();
})();
"""

_CSS = """<style>
#review .review-grid { display:grid; grid-template-columns:repeat(auto-fill,minmax(290px,1fr)); gap:12px; margin:10px 0; }
#review .review-card { border:1px solid var(--line); border-radius:6px; padding:10px; background:#fff; }
#review .review-card .imgs { display:flex; gap:10px; align-items:flex-end; }
#review .review-card figure { border:0; padding:0; margin:0; text-align:center; font-size:12px; color:var(--muted); }
#review .review-card img { width:THUMBpx; height:auto; image-rendering:pixelated; border:1px solid var(--line); }
#review .review-card p { margin:6px 0; font-size:13px; }
#review button { font:inherit; font-size:13px; padding:4px 9px; margin:2px 4px 2px 0; border:1px solid var(--line);
                 border-radius:4px; background:#f3f5f7; cursor:pointer; }
#review button[aria-pressed=true] { background:var(--accent); color:#fff; border-color:var(--accent); }
#review .review-bar { display:flex; gap:12px; align-items:center; flex-wrap:wrap; font-size:14px; }
</style>""".replace("THUMB", str(THUMB))


def png_data_url(image) -> str:
    """A [0, 1] HWC image (1 or 3 channels) as a ``data:image/png;base64,...`` URL."""
    from PIL import Image

    img = np.clip(np.asarray(image, np.float32), 0, 1)
    arr = (img * 255 + 0.5).astype(np.uint8)
    pil = Image.fromarray(arr[..., 0], "L") if arr.shape[-1] == 1 else Image.fromarray(arr[..., :3], "RGB")
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _card(f, image, anchor, members, class_names) -> str:
    esc = html.escape
    lab, pred = class_label(class_names, f["label"]), class_label(class_names, f["predicted"])
    votes = ", ".join(f"{esc(m)}: {esc(class_label(class_names, v))} ({c:.2f})"
                      for m, v, c in zip(members, f["votes"], f["confidences"]))
    imgs = []
    if anchor is not None:
        imgs.append(f'<figure><img src="{png_data_url(anchor)}" alt="anchor #{f["anchor"]}">'
                    f'<figcaption>anchor #{f["anchor"]}</figcaption></figure>')
    imgs.append(f'<figure><img src="{png_data_url(image)}" alt="case {esc(f["case"])}">'
                f'<figcaption>{esc(f["origin"])} case</figcaption></figure>')
    buttons = "".join(f'<button type="button" data-verdict="{v}" aria-pressed="false">{v}</button>' for v in VERDICTS)
    return (f'<div class="review-card" data-case="{esc(f["case"])}"><div class="imgs">{"".join(imgs)}</div>'
            f'<p>label <b>{esc(lab)}</b>, model says <b>{esc(pred)}</b></p><p>committee: {votes}</p>'
            f'<p title="case id">{esc(f["case"])}</p><div>{buttons}</div></div>')


def review_block(items, *, members, class_names=None, reviews=None) -> str:
    """The review HTML for ``items`` = ``[(failure dict, case image, anchor image or None)]``; ``""`` without any."""
    if not items:
        return ""
    initial = json.dumps(reviews or {}, sort_keys=True).replace("</", "<\\/")
    cards = "".join(_card(f, img, anc, members, class_names) for f, img, anc in items)
    return (f'{_CSS}<div id="review"><h3>Review the confirmed failures</h3>'
            '<p class="review-bar"><span id="review-counts"></span>'
            '<button type="button" id="review-download">Download reviews.json</button>'
            '<span id="review-status" role="status"></span></p>'
            f'<div class="review-grid">{cards}</div>'
            f'<script type="application/json" id="review-initial">{initial}</script>'
            f'<script>{_SCRIPT}</script></div>')


def with_reviews(block: str, reviews) -> str:
    """``block`` with its embedded reviews replaced by ``reviews`` (after a rerun restored it from the cache)."""
    start = block.find('<script type="application/json" id="review-initial">')
    if start < 0:
        return block
    head = start + len('<script type="application/json" id="review-initial">')
    end = block.find("</script>", head)
    return block[:head] + json.dumps(reviews or {}, sort_keys=True).replace("</", "<\\/") + block[end:]
