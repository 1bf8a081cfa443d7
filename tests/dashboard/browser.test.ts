/**
 * The dashboard in a real browser: Debian's headless Chromium driven by playwright-core (no
 * browser download). While a call runs, the page shows the worker and the running job; the
 * job's live log opens; its Cancel button cancels it (the caller gets CancelledError). The
 * screenshot it saves is the one the README shows (docs/images/dashboard.png, written when
 * UPDATE_SCREENSHOTS=1).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CancelledError, configure, LiveServerless, remote } from "../../sdk/index.ts";
import { DASHBOARD_DIR, startLocalServer, type LocalServer } from "../../sdk/local-server/server.ts";

const CHROMIUM = "/usr/bin/chromium";
const REPO = join(import.meta.dirname, "..", "..");
// The README's picture is this test's screenshot: `UPDATE_SCREENSHOTS=1` writes it there;
// otherwise it goes to .ferry/ so that a test run leaves the tree clean.
const SCREENSHOT = process.env.UPDATE_SCREENSHOTS === "1" ? join(REPO, "docs", "images", "dashboard.png") : join(REPO, ".ferry", "dashboard.png");
const haveChromium = existsSync(CHROMIUM);

let server: LocalServer;
let browser: BrowserContext;
let dir: string;

const PY = `
import time

def quick(x):
    print(f"quick {x}")
    return x * 2

def fails():
    raise ValueError("a failure the dashboard shows")

def long_task(steps):
    for i in range(steps):
        print(f"step {i} of {steps}", flush=True)
        time.sleep(0.2)
    return "finished"
`;

beforeAll(async () => {
  if (!haveChromium) return;
  dir = mkdtempSync(join(tmpdir(), "ferry-dashboard-"));
  server = await startLocalServer({ stateDir: join(dir, "state"), persistEndpoints: false });
  await configure({ localUrl: server.url, stateDir: join(dir, "state"), quiet: true, onLog: false, onProgress: false });
  // A fresh profile directory per run (playwright passes it as --user-data-dir).
  browser = await chromium.launchPersistentContext(join(dir, "chromium-profile"), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 860 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await configure({ quiet: true });
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!haveChromium)("dashboard in headless Chromium", () => {
  it("shows a worker and a running job, opens its log, and cancels it", { timeout: 180_000 }, async () => {
    expect(existsSync(join(DASHBOARD_DIR, "app.js")), "dist/dashboard is built by the global setup (images/build.mjs)").toBe(true);
    const py = remote(new LiveServerless({ name: "dashboard-it", workersMax: 1, idleTimeout: 300 }));
    const quick = py.function<[x: number], number>(PY, "quick");
    const fails = py.function<[], never>(PY, "fails");
    const longTask = py.function<[steps: number], string>(PY, "long_task");
    // A finished job and a failed one fill the list before the long one starts.
    expect(await quick(21)).toBe(42);
    await expect(fails()).rejects.toThrow(/a failure the dashboard shows/);

    const page = await browser.newPage();
    const consoleErrors: string[] = [];
    page.on("pageerror", (e) => consoleErrors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });
    await page.goto(`${server.url}/`);
    await page.getByRole("heading", { name: "Ferry local server" }).waitFor();
    await page.getByTestId("worker-row").first().waitFor({ timeout: 30_000 });

    const running = longTask(600);
    const outcome = running.then(
      () => new Error("the long task finished instead of being cancelled"),
      (e: unknown) => e,
    );
    const row = page.locator('[data-testid="job-row"][data-status="IN_PROGRESS"]');
    await row.first().waitFor({ timeout: 30_000 });
    await row.first().click();
    const log = page.getByTestId("job-log");
    await expect.poll(async () => log.textContent(), { timeout: 30_000 }).toMatch(/step 2 of 600/);
    await expect.poll(async () => page.getByTestId("worker-row").first().textContent(), { timeout: 10_000 }).toMatch(/running/);

    mkdirSync(join(SCREENSHOT, ".."), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: false });

    await page.getByTestId("cancel-job").click();
    await expect.poll(async () => page.getByTestId("job-status").textContent(), { timeout: 30_000 }).toBe("CANCELLED");
    expect(await outcome).toBeInstanceOf(CancelledError);

    // The failed job shows its error and traceback.
    await page.locator('[data-testid="job-row"][data-status="FAILED"]').first().click();
    await expect.poll(async () => page.getByTestId("job-error").textContent(), { timeout: 10_000 }).toMatch(/ValueError: a failure the dashboard shows[\s\S]*Traceback[\s\S]*line 9, in fails/);
    expect(consoleErrors).toEqual([]);
    await page.close();
  });
});
