/// <reference lib="dom" />
/**
 * The local server's dashboard page: Preact components written with htm (tagged templates, so
 * the page needs no JSX step), bundled by esbuild into dist/dashboard/app.js. It polls the
 * server's `/dashboard/api/` once a second and cancels through the endpoint API.
 */
import htm from "htm";
import { h, render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { isFinalStatus } from "../../../../protocol/runpod-jobs.ts";
import type { DashboardState } from "../snapshot.ts";

const html = htm.bind(h);
const POLL_MS = 1000;
const KEY_STORAGE = "ferry-dashboard-key";

type Job = DashboardState["jobs"][number];
interface JobDetail extends Job {
  logs: { stream: string; line: string }[];
  logsCut: number;
  progress: Record<string, unknown>[];
  outcome: { success: boolean | null; errorType: string | null; error: string | null; traceback: string | null; value: string | null } | null;
}

class Unauthorized extends Error {}

async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const key = sessionStorage.getItem(KEY_STORAGE);
  const headers: Record<string, string> = { accept: "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) };
  if (init.body) headers["content-type"] = "application/json";
  const res = await fetch(path, { ...init, headers });
  if (res.status === 401) throw new Unauthorized();
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

/** Polls `load` once a second while mounted; `key` restarts it. */
function usePoll<T>(load: () => Promise<T>, key: unknown): { data: T | undefined; error: unknown } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    let stopped = false;
    let timer: number | undefined;
    const tick = async () => {
      try {
        const next = await load();
        if (!stopped) {
          setData(next);
          setError(undefined);
        }
      } catch (e) {
        if (!stopped) setError(e);
      }
      if (!stopped) timer = window.setTimeout(tick, POLL_MS);
    };
    void tick();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [key]);
  return { data, error };
}

const seconds = (ms: number | null | undefined) => (ms === null || ms === undefined ? "—" : ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`);
const uptime = (ms: number) => (ms < 120_000 ? `${Math.round(ms / 1000)} s` : ms < 7_200_000 ? `${Math.round(ms / 60_000)} min` : `${(ms / 3_600_000).toFixed(1)} h`);

function Status({ value }: { value: string }) {
  return html`<span class=${`status ${value}`} data-testid="status">${value}</span>`;
}

/** Queue, install, model download and execute as one bar, scaled to the longest job shown. */
function TimingBar({ t, scale }: { t: Job["timings"]; scale: number }) {
  const parts: [string, number | null][] = [
    ["queue", t.queueMs],
    ["install", t.installMs],
    ["model", t.modelDownloadMs],
    ["execute", t.executeMs],
  ];
  const title = parts.map(([name, ms]) => `${name} ${seconds(ms)}`).join(", ");
  return html`<div class="bar" title=${title}>
    ${parts.map(([name, ms]) => (ms ? html`<span class=${name} style=${`width:${Math.max(1, (ms / scale) * 100)}%`}></span>` : null))}
  </div>`;
}

function KeyForm({ onKey }: { onKey: () => void }) {
  const [value, setValue] = useState("");
  return html`<section>
    <h2>API key</h2>
    <p>This server wants its API key for the dashboard's data, as for its API.</p>
    <form
      onSubmit=${(e: Event) => {
        e.preventDefault();
        sessionStorage.setItem(KEY_STORAGE, value);
        onKey();
      }}
    >
      <input type="password" placeholder="key" value=${value} onInput=${(e: Event) => setValue((e.target as HTMLInputElement).value)} />
      <button type="submit">Use</button>
    </form>
  </section>`;
}

function Endpoints({ state }: { state: DashboardState }) {
  return html`<section>
    <h2>Endpoints</h2>
    ${state.endpoints.length === 0
      ? html`<div class="empty">No endpoints yet: the first call of a resource creates one.</div>`
      : html`<table>
          <tr><th>name</th><th>id</th><th>workers</th><th>idle timeout</th><th>execution limit</th><th>queued</th><th>running</th><th>done</th><th>failed</th></tr>
          ${state.endpoints.map(
            (e) => html`<tr>
              <td>${e.name}</td><td class="mono">${e.id}</td><td>${e.workersMin}–${e.workersMax}</td><td>${e.idleTimeoutS} s</td>
              <td>${seconds(e.executionTimeoutMs)}</td><td>${e.counts.inQueue}</td><td>${e.counts.inProgress}</td><td>${e.counts.completed}</td><td>${e.counts.failed}</td>
            </tr>`,
          )}
        </table>`}
  </section>`;
}

function Workers({ state, select }: { state: DashboardState; select: (id: string) => void }) {
  return html`<section>
    <h2>Workers</h2>
    ${state.workers.length === 0
      ? html`<div class="empty">No workers running.</div>`
      : html`<table>
          <tr><th>worker</th><th>endpoint</th><th>state</th><th>current job</th><th>memory</th><th>Python</th><th>uptime</th></tr>
          ${state.workers.map(
            (w) => html`<tr data-testid="worker-row">
              <td class="mono">${w.name}</td><td>${state.endpoints.find((e) => e.id === w.endpointId)?.name ?? w.endpointId}</td><td><${Status} value=${w.state} /></td>
              <td class="mono">${w.currentJob ? html`<a href="#" onClick=${(e: Event) => (e.preventDefault(), select(w.currentJob!))}>${w.currentJob.slice(0, 12)}</a>` : "—"}</td>
              <td>${w.memoryMiB === null ? "—" : `${w.memoryMiB} MiB`}</td><td>${w.python ?? "—"}</td><td>${uptime(w.uptimeMs)}</td>
            </tr>`,
          )}
        </table>`}
  </section>`;
}

function Queue({ state }: { state: DashboardState }) {
  return html`<section>
    <h2>Queue</h2>
    ${state.queue.length === 0
      ? html`<div class="empty">Empty.</div>`
      : html`<table>
          <tr><th>job</th><th>call</th><th>waiting</th></tr>
          ${state.queue.map((q) => html`<tr><td class="mono">${q.id}</td><td>${q.call}</td><td>${seconds(q.waitedMs)}</td></tr>`)}
        </table>`}
  </section>`;
}

function Jobs({ state, selected, select }: { state: DashboardState; selected: string | null; select: (id: string) => void }) {
  const scale = Math.max(1, ...state.jobs.map((j) => (j.timings.queueMs ?? 0) + (j.timings.totalMs ?? 0)));
  return html`<section>
    <h2>Recent jobs</h2>
    <div class="legend muted">
      <span><i style="background:var(--queue)"></i>queue</span><span><i style="background:var(--install)"></i>install</span>
      <span><i style="background:var(--model)"></i>model download</span><span><i style="background:var(--execute)"></i>execute</span>
    </div>
    ${state.jobs.length === 0
      ? html`<div class="empty">No jobs yet.</div>`
      : html`<table>
          <tr><th>job</th><th>call</th><th>status</th><th>worker</th><th>time</th><th></th></tr>
          ${state.jobs.map(
            (j) => html`<tr class=${`clickable ${selected === j.id ? "selected" : ""}`} data-testid="job-row" data-job=${j.id} data-status=${j.status} onClick=${() => select(j.id)}>
              <td class="mono">${j.id.slice(0, 12)}</td><td>${j.call}</td><td><${Status} value=${j.status} /></td><td class="mono">${j.workerId ?? "—"}</td>
              <td><${TimingBar} t=${j.timings} scale=${scale} /></td><td>${seconds((j.timings.queueMs ?? 0) + (j.timings.totalMs ?? 0))}</td>
            </tr>`,
          )}
        </table>`}
  </section>`;
}

function JobPanel({ id }: { id: string }) {
  const { data: job, error } = usePoll(() => api<JobDetail>(`/dashboard/api/jobs/${encodeURIComponent(id)}`), id);
  const [cancelling, setCancelling] = useState(false);
  if (error && !job) return html`<section><h2>Job ${id}</h2><div class="empty">${String((error as Error).message ?? error)}</div></section>`;
  if (!job) return html`<section><h2>Job ${id}</h2><div class="empty">Loading…</div></section>`;
  const cancel = async () => {
    setCancelling(true);
    try {
      await api(`/v2/${encodeURIComponent(job.endpointId)}/cancel/${encodeURIComponent(job.id)}`, { method: "POST", body: "{}" });
    } finally {
      setCancelling(false);
    }
  };
  const o = job.outcome;
  return html`<section data-testid="job-panel">
    <h2>Job <span class="mono">${job.id}</span></h2>
    <p>
      <strong>${job.call}</strong> <span data-testid="job-status"><${Status} value=${job.status} /></span>
      ${job.workerId ? html` on <span class="mono">${job.workerId}</span>` : ""}
      ${isFinalStatus(job.status) ? "" : html` <button data-testid="cancel-job" disabled=${cancelling} onClick=${cancel}>Cancel</button>`}
    </p>
    <p class="muted">
      queue ${seconds(job.timings.queueMs)} · install ${seconds(job.timings.installMs)} · model download ${seconds(job.timings.modelDownloadMs)} · execute ${seconds(job.timings.executeMs)}
    </p>
    ${job.progress.length ? html`<p class="muted">progress: ${job.progress.map((p) => String(p.phase)).join(" → ")}</p>` : ""}
    <h2>Log</h2>
    <pre data-testid="job-log">${job.logsCut ? `(${job.logsCut} earlier lines not shown)\n` : ""}${job.logs.map((l) => html`<span class=${l.stream}>${`${l.line}\n`}</span>`)}${job.logs.length ? "" : "(nothing printed yet)"}</pre>
    ${o && o.success === false
      ? html`<h2>Error</h2><pre class="error" data-testid="job-error">${o.errorType ? `${o.errorType}: ` : ""}${o.error ?? ""}${o.traceback ? `\n\n${o.traceback}` : ""}</pre>`
      : ""}
    ${o && o.success ? html`<h2>Result</h2><pre data-testid="job-result">${o.value ?? "None"}</pre>` : ""}
  </section>`;
}

function App() {
  const [keyTick, setKeyTick] = useState(0);
  const [selected, setSelected] = useState<string | null>(null);
  const { data: state, error } = usePoll(() => api<DashboardState>("/dashboard/api/state"), keyTick);
  return html`<header>
      <h1>Ferry local server</h1>
      <span class="muted">${location.host} · updates every second</span>
    </header>
    <main>
      <div>
        ${error instanceof Unauthorized ? html`<${KeyForm} onKey=${() => setKeyTick((t) => t + 1)} />` : ""}
        ${error && !(error instanceof Unauthorized) ? html`<section><div class="empty">The server did not answer: ${String((error as Error).message)}</div></section>` : ""}
        ${state ? html`<${Endpoints} state=${state} /><${Workers} state=${state} select=${setSelected} /><${Jobs} state=${state} selected=${selected} select=${setSelected} />` : ""}
      </div>
      <div>
        ${state ? html`<${Queue} state=${state} />` : ""}
        ${selected ? html`<${JobPanel} id=${selected} />` : html`<section><h2>Job</h2><div class="empty">Pick a job to see its log and result.</div></section>`}
      </div>
    </main>`;
}

render(html`<${App} />`, document.getElementById("app")!);
