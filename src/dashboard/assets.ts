/**
 * The dashboard's page, style and script, kept as strings so the built package serves them with no copy step and no
 * build of their own. The script builds every value into the page with `textContent`, never as markup.
 */

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function page({ base, title, view }: { base: string; title: string; view: 'list' | 'job' }): string {
  const b = escapeHtml(base);
  const t = escapeHtml(title);
  const main =
    view === 'list'
      ? `<section aria-labelledby="jobs-title">
      <h2 id="jobs-title">Jobs <span id="updated" class="muted" aria-live="off"></span></h2>
      <p id="load-error" class="error" role="alert" hidden></p>
      <div class="table-wrap">
        <table id="jobs">
          <thead><tr>
            <th scope="col">Job</th><th scope="col">ID</th><th scope="col">State</th><th scope="col">Progress</th>
            <th scope="col">Items</th><th scope="col">Rate</th><th scope="col">ETA</th><th scope="col">Cursor</th>
            <th scope="col">Interrupted</th><th scope="col">Last interruption</th><th scope="col">Attempts</th>
            <th scope="col">Error</th><th scope="col">Actions</th>
          </tr></thead>
          <tbody></tbody>
        </table>
      </div>
      <p id="empty" class="muted" hidden>No iterable jobs in this queue yet.</p>
    </section>
    <section id="run" aria-labelledby="run-title" hidden>
      <h2 id="run-title">Run a job</h2>
      <form id="run-form" novalidate>
        <label>Job <select name="job" id="run-job" required></select></label>
        <label id="run-queue-label" hidden>Queue <select name="queue" id="run-queue"></select></label>
        <label class="wide">Params (JSON) <textarea name="params" id="run-params" rows="4" spellcheck="false">{}</textarea></label>
        <label>Partitions (optional) <input name="partitions" id="run-partitions" type="number" min="1" inputmode="numeric"></label>
        <button type="submit">Enqueue</button>
        <p id="run-result" role="status" aria-live="polite"></p>
      </form>
    </section>`
      : `<p><a href="${b}/">&larr; All jobs</a></p>
    <p id="load-error" class="error" role="alert" hidden></p>
    <section id="job" aria-labelledby="job-title">
      <h2 id="job-title">Job</h2>
      <div class="summary">
        <progress id="job-progress" max="100" value="0" aria-label="progress"></progress> <span id="job-percent"></span>
        <div id="job-actions" class="actions"></div>
        <p id="job-outcome" role="status" aria-live="polite"></p>
      </div>
      <dl id="job-fields"></dl>
      <h3>Params</h3><pre id="job-params"></pre>
      <h3>State</h3><pre id="job-state"></pre>
      <h3>Error</h3><pre id="job-error"></pre>
      <h3>Log</h3><ol id="job-logs" class="logs"></ol>
    </section>`;
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="color-scheme" content="light dark">
  <title>${t}</title>
  <link rel="stylesheet" href="${b}/assets/app.css">
  <script type="module" src="${b}/assets/app.js"></script>
</head>
<body data-base="${b}" data-view="${view}">
  <header><h1><a href="${b}/">${t}</a></h1></header>
  <main>
    ${main}
  </main>
</body>
</html>
`;
}

export const APP_CSS = `:root {
  --bg: #fff; --fg: #1b1f24; --muted: #5f6b76; --line: #d6dbe0; --accent: #1f6feb; --bad: #b42318; --ok: #1a7f37; --chip: #eef1f4;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 15px; line-height: 1.4;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #0f1419; --fg: #e6e9ec; --muted: #9aa5b1; --line: #2c343c; --accent: #58a6ff; --bad: #ff7b72; --ok: #56d364; --chip: #1c232b; }
}
* { box-sizing: border-box; }
/* Elements styled with a display of their own stay hidden when the page hides them. */
[hidden] { display: none !important; }
body { margin: 0; background: var(--bg); color: var(--fg); }
header { padding: .75rem 1rem; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.2rem; margin: 0; }
h1 a { color: inherit; text-decoration: none; }
h2 { font-size: 1.1rem; }
main { padding: 0 1rem 2rem; max-width: 110rem; }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.muted { color: var(--muted); font-weight: normal; font-size: .85rem; }
.error { color: var(--bad); white-space: pre-wrap; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: .8rem; color: var(--muted); white-space: nowrap; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
td.cursor, td.err { max-width: 18rem; overflow-wrap: anywhere; }
td.err { color: var(--bad); }
.state { display: inline-block; padding: .05rem .45rem; border-radius: 1rem; background: var(--chip); white-space: nowrap; }
.state.failed, .state.cancelled, .state.stalled\\? { color: var(--bad); }
.state.completed { color: var(--ok); }
progress { width: 8rem; height: .9rem; accent-color: var(--accent); vertical-align: middle; }
.actions { display: flex; flex-wrap: wrap; gap: .3rem; }
button { font: inherit; padding: .25rem .6rem; border: 1px solid var(--line); border-radius: .3rem; background: var(--chip); color: var(--fg); cursor: pointer; }
button:hover { border-color: var(--accent); }
button.danger { color: var(--bad); }
.outcome { display: block; font-size: .8rem; color: var(--muted); margin-top: .2rem; }
form { display: grid; grid-template-columns: repeat(auto-fit, minmax(14rem, 1fr)); gap: .75rem; align-items: end; max-width: 60rem; }
form .wide { grid-column: 1 / -1; }
label { display: flex; flex-direction: column; gap: .25rem; font-size: .9rem; }
input, select, textarea { font: inherit; padding: .35rem; border: 1px solid var(--line); border-radius: .3rem; background: var(--bg); color: var(--fg); }
textarea { font-family: ui-monospace, monospace; }
#run-result { grid-column: 1 / -1; margin: 0; white-space: pre-wrap; }
#run-result.bad { color: var(--bad); }
pre, .logs { background: var(--chip); padding: .6rem; border-radius: .3rem; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; font-size: .85rem; }
.logs { padding-left: 2.2rem; font-family: ui-monospace, monospace; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
/* Phone width: each job a card of labelled cells instead of a wide table. */
@media (max-width: 46rem) {
  thead { display: none; }
  table, tbody, tr, td { display: block; width: 100%; }
  tr { border: 1px solid var(--line); border-radius: .4rem; margin-bottom: .75rem; padding: .25rem; }
  td { border: 0; display: flex; gap: .5rem; padding: .2rem .4rem; }
  td::before { content: attr(data-label); color: var(--muted); min-width: 7rem; font-size: .8rem; }
  td.cursor, td.err { max-width: none; }
  td:empty { display: none; }
}
`;

export const APP_JS = `const base = document.body.dataset.base;
const view = document.body.dataset.view;
const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const init = body === undefined ? { headers: { accept: 'application/json' } }
    : { method: 'POST', headers: { 'content-type': 'application/json', 'x-job-iteration': '1' }, body: JSON.stringify(body) };
  const res = await fetch(base + path, { ...init, credentials: 'same-origin' });
  let data;
  try { data = await res.json(); } catch { data = { error: res.status + ' ' + res.statusText }; }
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k in node) node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== undefined && c !== null) node.append(c);
  return node;
}

const fmt = {
  num: (n) => (n === undefined || n === null ? '' : Number(n).toLocaleString('en-US', { maximumFractionDigits: 1 })),
  eta(ms) {
    if (ms === undefined || ms === null) return '';
    const s = Math.round(ms / 1000);
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  },
  json(v) { return v === undefined || v === null ? '' : JSON.stringify(v); },
  // Over a total of items only: a measured job's total counts rows, bytes or steps, shown with its progress.
  items(j) { return fmt.num(j.iterations) + (j.total !== undefined && j.done === undefined ? ' / ' + fmt.num(j.total) : ''); },
  // A step job says which step it is in, and how far that step is: step 2/4 backfill: 41%.
  done(j) { return j.step || (j.percentage === undefined ? '' : fmt.num(j.percentage) + '%'); },
  rate(j) { return j.ratePerSecond === undefined ? '' : fmt.num(j.ratePerSecond) + ' ' + (j.unit || 'items') + '/s'; },
};

function actionsFor(status) {
  const out = [];
  if (['running', 'waiting', 'delayed', 'interrupted', 'retrying', 'stalled?'].includes(status)) out.push('pause');
  if (['paused', 'pausing'].includes(status)) out.push('resume');
  if (!['completed', 'failed', 'cancelled', 'cancelling'].includes(status)) out.push('cancel');
  if (status === 'failed') out.push('retry');
  return out;
}

const LABEL = { pause: 'Pause', resume: 'Resume', cancel: 'Cancel', retry: 'Retry' };
const outcomes = new Map();

async function act(action, job, show) {
  if (action === 'cancel' && !confirm('Cancel job ' + job.id + ' (' + job.name + ')? It stops at its next checkpoint and is not retried.')) return;
  show(action + '…');
  try {
    const r = await api('/api/' + action, { queue: job.queue, id: job.id });
    show(r.message);
  } catch (e) {
    show(action + ' failed: ' + e.message);
  }
  refresh();
}

function progressBar(pct) {
  const bar = el('progress', { max: 100 });
  bar.setAttribute('aria-label', 'progress');
  setProgress(bar, pct);
  return bar;
}

function setProgress(bar, pct) {
  // A job that cannot count its items has no bar, rather than one that moves for ever.
  bar.hidden = pct === undefined || pct === null;
  if (bar.hidden) {
    bar.removeAttribute('value');
    bar.removeAttribute('aria-valuenow');
  } else {
    bar.value = pct;
    bar.setAttribute('aria-valuenow', String(pct));
  }
}

function renderActions(container, job, show) {
  const wanted = actionsFor(job.status);
  if (container.dataset.actions === wanted.join(',')) return;
  container.dataset.actions = wanted.join(',');
  container.replaceChildren(...wanted.map((a) => el('button', {
    type: 'button', textContent: LABEL[a], className: a === 'cancel' ? 'danger' : '', dataset: { action: a },
    onclick: () => act(a, container.job, show),
  })));
  for (const b of container.children) b.setAttribute('aria-label', LABEL[b.dataset.action] + ' job ' + job.id);
}

// Rows are updated in place, so a focused button keeps its focus across refreshes.
const rows = new Map();

function makeRow(key) {
  const cells = {};
  const tr = el('tr', { dataset: { key } });
  const add = (name, label, className) => { cells[name] = el('td', { className: className || '', dataset: { label } }); tr.append(cells[name]); };
  add('name', 'Job'); add('id', 'ID'); add('state', 'State'); add('progress', 'Progress', 'num');
  add('items', 'Items', 'num'); add('rate', 'Rate', 'num'); add('eta', 'ETA', 'num'); add('cursor', 'Cursor', 'cursor');
  add('interrupted', 'Interrupted', 'num'); add('reason', 'Last interruption'); add('attempts', 'Attempts', 'num');
  add('error', 'Error', 'err'); add('actions', 'Actions');
  const link = el('a');
  cells.id.append(link);
  const chip = el('span', { className: 'state' });
  cells.state.append(chip);
  const bar = progressBar(undefined);
  const pct = el('span');
  cells.progress.append(bar, ' ', pct);
  const buttons = el('div', { className: 'actions' });
  const outcome = el('span', { className: 'outcome', role: 'status' });
  outcome.setAttribute('aria-live', 'polite');
  cells.actions.append(buttons, outcome);
  const show = (text) => { outcomes.set(key, text); outcome.textContent = text; };
  return { tr, cells, link, chip, bar, pct, buttons, outcome, show };
}

function updateRow(r, j) {
  r.cells.name.textContent = j.partitionOf ? '↳ ' + j.name : j.name;
  r.link.textContent = j.id;
  r.link.href = base + '/job?queue=' + encodeURIComponent(j.queue) + '&id=' + encodeURIComponent(j.id);
  r.chip.textContent = j.status;
  r.chip.className = 'state ' + j.status;
  r.tr.dataset.status = j.status;
  setProgress(r.bar, j.percentage);
  r.pct.textContent = fmt.done(j);
  r.cells.items.textContent = fmt.items(j);
  r.cells.rate.textContent = fmt.rate(j);
  // An ETA only means something while the job runs; a finished job's last one would read as a promise.
  r.cells.eta.textContent = j.status === 'running' ? fmt.eta(j.etaMs) : '';
  r.cells.cursor.textContent = fmt.json(j.cursor);
  r.cells.interrupted.textContent = String(j.timesInterrupted);
  r.cells.reason.textContent = j.lastInterruption || '';
  r.cells.attempts.textContent = String(j.attemptsMade);
  r.cells.error.textContent = j.error || '';
  r.buttons.job = j;
  renderActions(r.buttons, j, r.show);
}

async function refreshList() {
  const data = await api('/api/jobs');
  const body = document.querySelector('#jobs tbody');
  const seen = new Set();
  const ordered = [];
  for (const j of data.jobs) {
    const key = j.queue + ':' + j.id;
    seen.add(key);
    let r = rows.get(key);
    if (!r) { r = makeRow(key); rows.set(key, r); if (outcomes.has(key)) r.outcome.textContent = outcomes.get(key); }
    updateRow(r, j);
    ordered.push(r.tr);
  }
  for (const [key, r] of rows) if (!seen.has(key)) { r.tr.remove(); rows.delete(key); }
  // Re-append only what moved: moving the focused row would lose its focus.
  ordered.forEach((tr, i) => { if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null); });
  $('empty').hidden = data.jobs.length > 0;
  $('updated').textContent = 'updated ' + new Date(data.at).toLocaleTimeString();
}

async function setupRun() {
  const meta = await api('/api/meta');
  if (meta.jobs.length === 0) return;
  $('run').hidden = false;
  $('run-job').replaceChildren(...meta.jobs.map((j) => el('option', { value: j.name, textContent: j.name })));
  $('run-queue').replaceChildren(...meta.queues.map((q) => el('option', { value: String(q.index), textContent: q.name })));
  $('run-queue-label').hidden = meta.queues.length < 2;
  $('run-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const result = $('run-result');
    const text = $('run-params').value;
    try { JSON.parse(text.trim() === '' ? '{}' : text); } catch (e) {
      result.className = 'bad';
      result.textContent = 'Params are not valid JSON: ' + e.message;
      $('run-params').setAttribute('aria-invalid', 'true');
      $('run-params').focus();
      return;
    }
    $('run-params').removeAttribute('aria-invalid');
    try {
      const r = await api('/api/run', { job: $('run-job').value, queue: Number($('run-queue').value || 0), params: text, partitions: $('run-partitions').value });
      result.className = '';
      result.textContent = 'Enqueued ' + r.name + ' as job ' + r.id + (r.partitions ? ' in ' + r.partitions.length + ' partition(s)' : '') + '.';
      refresh();
    } catch (e) {
      result.className = 'bad';
      result.textContent = e.message;
    }
  });
}

async function refreshJob() {
  const q = new URLSearchParams(location.search);
  const j = await api('/api/job?queue=' + encodeURIComponent(q.get('queue') || '0') + '&id=' + encodeURIComponent(q.get('id') || ''));
  document.title = j.name + ' ' + j.id;
  $('job-title').textContent = j.name + ' — job ' + j.id + ' on queue ' + j.queueName;
  setProgress($('job-progress'), j.percentage);
  $('job-percent').textContent = fmt.done(j);
  const fields = [
    ['State', j.status], ['Queue state', j.queueState], ['Items', fmt.items(j)], ['Rate', fmt.rate(j)], ['ETA', j.status === 'running' ? fmt.eta(j.etaMs) : ''],
    ['Cursor', fmt.json(j.cursor)], ['Times interrupted', String(j.timesInterrupted)], ['Last interruption', j.lastInterruption || ''],
    ['Attempts', String(j.attemptsMade)], ['Pending request', j.control || ''], ['Added', j.timestamp ? new Date(j.timestamp).toISOString() : ''],
    ['Started', j.processedOn ? new Date(j.processedOn).toISOString() : ''], ['Finished', j.finishedOn ? new Date(j.finishedOn).toISOString() : ''],
  ];
  $('job-fields').replaceChildren(...fields.flatMap(([k, v]) => [el('dt', { textContent: k }), el('dd', { textContent: v })]));
  $('job-params').textContent = JSON.stringify(j.params, null, 2);
  $('job-state').textContent = j.state === undefined ? 'not run yet' : JSON.stringify(j.state, null, 2);
  $('job-error').textContent = [j.error, ...(j.stacktrace || [])].filter(Boolean).join('\\n\\n') || 'none';
  $('job-logs').replaceChildren(...j.logs.map((line) => el('li', { textContent: line })));
  const container = $('job-actions');
  container.job = j;
  renderActions(container, j, (text) => { $('job-outcome').textContent = text; });
}

const refresh = () => (view === 'job' ? refreshJob() : refreshList()).then(
  () => { $('load-error').hidden = true; },
  (e) => { $('load-error').hidden = false; $('load-error').textContent = 'Could not load: ' + e.message; },
);

// Polling one request at a time: a slow server is not asked again before it answers.
async function loop() {
  await refresh();
  setTimeout(loop, 1000);
}
if (view === 'list') setupRun().catch((e) => { $('load-error').hidden = false; $('load-error').textContent = e.message; });
loop();
`;
