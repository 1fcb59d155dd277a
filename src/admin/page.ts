/**
 * The Seenn admin page at the admin route's root: queues with their publisher's lease holder and
 * lag, live bridges with their open streams, and a user lookup listing one user's jobs. Server-
 * rendered (it works without JavaScript; every value is HTML-escaped), then kept current by a small
 * script (no framework, a few kB) that polls the JSON view: queues and bridges every
 * {@link PAGE_REFRESH_MS}, the shown user's jobs every {@link PAGE_USER_REFRESH_MS}, while the tab is
 * visible. The script builds rows with `textContent` only. A strict Content-Security-Policy allows
 * the page's own script and style and nothing else.
 */
import type { BridgeEntry } from '../health/index.js';
import type { JobPage } from '../jobs-api.js';
import type { SeennJob } from '../model/job.js';
import type { QueueStatus } from './queue-status.js';

/** How often the page refreshes queues and bridges, in ms. */
export const PAGE_REFRESH_MS = 2_000;
/** How often the page refreshes the shown user's jobs, in ms. */
export const PAGE_USER_REFRESH_MS = 1_000;
/** Jobs the user lookup shows (the newest). */
export const PAGE_USER_JOBS = 50;

/** The page's Content-Security-Policy: its own script, style and JSON calls only; never framed. */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** What the page shows when first served. */
export interface PageData {
  /** Where the admin route is mounted (`/admin`); links and calls are built on it. */
  basePath: string;
  /** bull-board's path under the route, or `null`. */
  boardPath: string | null;
  queues: QueueStatus[];
  bridges: BridgeEntry[];
  /** The looked-up user and their jobs, when `?user=` was given. */
  user: { userId: string; page: JobPage } | { userId: string; error: string } | null;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** `value` safe inside HTML text and double-quoted attributes. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (char) => ESCAPES[char] ?? char);
}

const COUNT_STATES = [
  'waiting',
  'prioritized',
  'delayed',
  'active',
  'waiting-children',
  'failed',
  'completed',
] as const;

/** Lag as text: `12 events, 3.4 s` (or `caught up`). */
function lagText(queue: QueueStatus): string {
  const { lag } = queue.publisher;
  if (lag.entries === 0) return 'caught up';
  return `${lag.entries}${lag.entriesCapped ? '+' : ''} events, ${(lag.ms / 1000).toFixed(1)} s${lag.trimmed ? ' (trimmed: re-sync)' : ''}`;
}

function queueRow(queue: QueueStatus): string {
  const counts = COUNT_STATES.map((state) => `<td class="num">${escapeHtml(queue.counts[state] ?? 0)}</td>`).join('');
  const holder = queue.publisher.leaseHolder ?? (queue.publisher.leaseHeld ? '(held)' : 'none');
  const lagClass = queue.publisher.lag.entries === 0 ? 'ok' : queue.publisher.leaseHeld ? 'warn' : 'bad';
  return `<tr data-queue="${escapeHtml(queue.name)}"><td>${escapeHtml(queue.name)}${queue.paused ? ' <span class="tag">paused</span>' : ''}</td>${counts}<td class="${queue.publisher.leaseHeld ? '' : 'bad'}">${escapeHtml(holder)}</td><td class="${lagClass}">${escapeHtml(lagText(queue))}</td></tr>`;
}

function bridgeRow(bridge: BridgeEntry): string {
  return `<tr><td>${escapeHtml(bridge.id)}</td><td class="num">${escapeHtml(bridge.streams)}</td><td>${escapeHtml(bridge.startedAt)}</td><td>${escapeHtml(bridge.seenAt)}</td></tr>`;
}

function jobRow(job: SeennJob): string {
  const detail = [
    job.stage === undefined ? '' : `${job.stage.name} ${job.stage.current}/${job.stage.total}`,
    job.message ?? '',
    job.error === undefined ? '' : `${job.error.code}: ${job.error.message}`,
  ]
    .filter((part) => part !== '')
    .join(' · ');
  const position =
    job.queue === undefined
      ? ''
      : `${job.queue.position}${job.queue.total === undefined ? '' : ` of ${job.queue.total}`}`;
  return `<tr data-job="${escapeHtml(job.id)}"><td class="mono">${escapeHtml(job.id)}</td><td>${escapeHtml(job.title)}</td><td class="status s-${escapeHtml(job.status)}">${escapeHtml(job.status)}</td><td class="num">${escapeHtml(job.progress)} %</td><td>${escapeHtml(detail)}</td><td class="num">${escapeHtml(position)}</td><td>${escapeHtml(job.updatedAt)}</td></tr>`;
}

function userSection(user: PageData['user']): string {
  if (user === null)
    return '<p class="muted" id="user-note">Enter a user id to list their jobs (newest first); the list updates live.</p><table id="jobs" hidden></table>';
  if ('error' in user)
    return `<p class="bad" id="user-note" data-invalid>${escapeHtml(user.error)}</p><table id="jobs" hidden></table>`;
  const rows = user.page.jobs.map(jobRow).join('');
  const note =
    user.page.jobs.length === 0
      ? `No jobs for ${user.userId}.`
      : `${user.page.jobs.length} newest jobs of ${user.userId}.`;
  return `<p class="muted" id="user-note">${escapeHtml(note)}</p><table id="jobs"><thead><tr><th>id</th><th>title</th><th>status</th><th>progress</th><th>stage · message · error</th><th>position</th><th>updated</th></tr></thead><tbody>${rows}</tbody></table>`;
}

/** The page's HTML. */
export function renderPage(data: PageData): string {
  const base = escapeHtml(data.basePath);
  const userId = data.user === null ? '' : escapeHtml(data.user.userId);
  const board = data.boardPath === null ? '' : ` · <a href="${base}${escapeHtml(data.boardPath)}/">bull-board</a>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Seenn admin</title><link rel="icon" href="data:,"><link rel="stylesheet" href="${base}/assets/admin.css"></head>
<body data-base="${base}" data-refresh-ms="${PAGE_REFRESH_MS}" data-user-refresh-ms="${PAGE_USER_REFRESH_MS}" data-user-jobs="${PAGE_USER_JOBS}">
<header><h1>Seenn admin</h1><nav><a href="${base}/metrics">metrics</a> · <a href="${base}/api/queues">JSON</a>${board}</nav><span id="updated" class="muted"></span></header>
<section><h2>Queues</h2><table id="queues"><thead><tr><th>queue</th>${COUNT_STATES.map((state) => `<th>${state}</th>`).join('')}<th>publisher (lease holder)</th><th>publisher lag</th></tr></thead><tbody>${data.queues.map(queueRow).join('')}</tbody></table></section>
<section><h2>Bridges</h2><table id="bridges"><thead><tr><th>bridge</th><th>open streams</th><th>started</th><th>last seen</th></tr></thead><tbody>${data.bridges.length === 0 ? '<tr><td colspan="4" class="muted">no live bridge</td></tr>' : data.bridges.map(bridgeRow).join('')}</tbody></table></section>
<section><h2>User</h2><form id="lookup" method="get" action="${base}/"><input name="user" id="user" placeholder="user id" value="${userId}" autocomplete="off" required maxlength="200"> <button type="submit">Look up</button></form>${userSection(data.user)}</section>
<script src="${base}/assets/admin.js"></script>
</body></html>`;
}

/** The page's style sheet. */
export const PAGE_CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1d1d1f;background:#fafafa}
header{display:flex;gap:1rem;align-items:baseline;flex-wrap:wrap}h1{font-size:1.3rem;margin:0}h2{font-size:1.05rem;margin:1.5rem 0 .5rem}
table{border-collapse:collapse;background:#fff;width:100%}th,td{border-bottom:1px solid #e5e5e5;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{font-weight:600;background:#f2f2f2}.num{text-align:right;font-variant-numeric:tabular-nums}.mono{font-family:ui-monospace,monospace;font-size:12px}
.muted{color:#777}.ok{color:#147a2e}.warn{color:#a15c00}.bad{color:#b3261e;font-weight:600}.tag{background:#eee;border-radius:3px;padding:0 .3rem;font-size:12px}
.s-completed{color:#147a2e}.s-failed{color:#b3261e}.s-running{color:#0b57d0}.s-cancelled{color:#777}
input{padding:.25rem .4rem;min-width:16rem}a{color:#0b57d0}`;

/**
 * The page's script: refreshes the tables from the JSON view (`api/queues`, `api/bridges`,
 * `api/users/:id/jobs`), building rows with `textContent` only; the lookup form updates the URL and
 * the list without a reload. Same origin, so the browser sends the credentials it already has.
 */
export const PAGE_SCRIPT = `(() => {
  'use strict';
  const body = document.body;
  const base = body.dataset.base;
  const refreshMs = Number(body.dataset.refreshMs);
  const userRefreshMs = Number(body.dataset.userRefreshMs);
  const userJobs = Number(body.dataset.userJobs);
  const states = ['waiting', 'prioritized', 'delayed', 'active', 'waiting-children', 'failed', 'completed'];
  const $ = (id) => document.getElementById(id);
  // A user id the server called invalid is not polled (every poll would be refused with a 400).
  let user = $('user-note').dataset.invalid === undefined ? new URLSearchParams(location.search).get('user') || '' : '';

  const cell = (row, text, className) => {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  };
  const getJson = async (path) => {
    const response = await fetch(base + path, { headers: { accept: 'application/json' }, cache: 'no-store' });
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new Error((body && body.error && body.error.message) || 'HTTP ' + response.status);
    return body;
  };
  const lagText = (lag) => lag.entries === 0 ? 'caught up' : lag.entries + (lag.entriesCapped ? '+' : '') + ' events, ' + (lag.ms / 1000).toFixed(1) + ' s' + (lag.trimmed ? ' (trimmed: re-sync)' : '');

  const renderQueues = (queues) => {
    const tbody = $('queues').tBodies[0];
    tbody.replaceChildren(...queues.map((queue) => {
      const row = document.createElement('tr');
      row.dataset.queue = queue.name;
      const name = cell(row, queue.name);
      if (queue.paused) { const tag = document.createElement('span'); tag.className = 'tag'; tag.textContent = 'paused'; name.append(' ', tag); }
      for (const state of states) cell(row, String(queue.counts[state] ?? 0), 'num');
      const publisher = queue.publisher;
      cell(row, publisher.leaseHolder ?? (publisher.leaseHeld ? '(held)' : 'none'), publisher.leaseHeld ? '' : 'bad');
      cell(row, lagText(publisher.lag), publisher.lag.entries === 0 ? 'ok' : publisher.leaseHeld ? 'warn' : 'bad');
      return row;
    }));
  };
  const renderBridges = (bridges) => {
    const tbody = $('bridges').tBodies[0];
    if (bridges.length === 0) {
      const row = document.createElement('tr');
      cell(row, 'no live bridge', 'muted').colSpan = 4;
      tbody.replaceChildren(row);
      return;
    }
    tbody.replaceChildren(...bridges.map((bridge) => {
      const row = document.createElement('tr');
      cell(row, bridge.id);
      cell(row, String(bridge.streams), 'num');
      cell(row, bridge.startedAt);
      cell(row, bridge.seenAt);
      return row;
    }));
  };
  const renderJobs = (userId, jobs) => {
    const table = $('jobs');
    $('user-note').className = 'muted';
    $('user-note').textContent = jobs.length === 0 ? 'No jobs for ' + userId + '.' : jobs.length + ' newest jobs of ' + userId + '.';
    const head = document.createElement('thead');
    const headRow = document.createElement('tr');
    for (const title of ['id', 'title', 'status', 'progress', 'stage · message · error', 'position', 'updated']) { const th = document.createElement('th'); th.textContent = title; headRow.appendChild(th); }
    head.appendChild(headRow);
    const tbody = document.createElement('tbody');
    for (const job of jobs) {
      const row = document.createElement('tr');
      row.dataset.job = job.id;
      cell(row, job.id, 'mono');
      cell(row, job.title);
      cell(row, job.status, 'status s-' + job.status);
      cell(row, job.progress + ' %', 'num');
      const detail = [job.stage ? job.stage.name + ' ' + job.stage.current + '/' + job.stage.total : '', job.message || '', job.error ? job.error.code + ': ' + job.error.message : ''].filter(Boolean).join(' · ');
      cell(row, detail);
      cell(row, job.queue ? job.queue.position + (job.queue.total === undefined ? '' : ' of ' + job.queue.total) : '', 'num');
      cell(row, job.updatedAt);
      tbody.appendChild(row);
    }
    table.replaceChildren(head, tbody);
    table.hidden = false;
  };
  const showError = (where, error) => { const note = $(where); if (note) { note.className = 'bad'; note.textContent = String(error.message || error); } };

  const refreshOverview = async () => {
    try {
      const [queues, bridges] = await Promise.all([getJson('/api/queues'), getJson('/api/bridges')]);
      renderQueues(queues.queues);
      renderBridges(bridges.bridges);
      $('updated').className = 'muted';
      $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    } catch (error) { showError('updated', error); }
  };
  const refreshUser = async () => {
    if (user === '') return;
    const shown = user;
    try {
      const page = await getJson('/api/users/' + encodeURIComponent(shown) + '/jobs?limit=' + userJobs);
      if (shown === user) renderJobs(shown, page.jobs);
    } catch (error) { if (shown === user) { $('jobs').hidden = true; showError('user-note', error); } }
  };
  const every = (ms, task) => {
    let running = false;
    setInterval(async () => {
      if (running || document.visibilityState === 'hidden') return;
      running = true;
      try { await task(); } finally { running = false; }
    }, ms);
  };

  $('lookup').addEventListener('submit', (event) => {
    event.preventDefault();
    user = $('user').value.trim();
    const url = new URL(location.href);
    if (user === '') url.searchParams.delete('user'); else url.searchParams.set('user', user);
    history.replaceState(null, '', url);
    void refreshUser();
  });
  every(refreshMs, refreshOverview);
  every(userRefreshMs, refreshUser);
})();
`;
