import type { Logger } from '../logger.ts';

/** What a job loop runs: how to claim due jobs and how to run one. */
export interface JobLoopHandlers<Job> {
  /** Claims up to `limit` due jobs for this worker (a lease in the database); [] when none. */
  claim(limit: number): Promise<Job[]>;
  /** Runs one claimed job to its end; failures are the handler's to record (retry or give up). */
  run(job: Job): Promise<void>;
}

/**
 * The claiming half of a durable job queue, shared by the subgraphs that have one: keeps up to
 * `concurrency` jobs running, looks for work every `pollMs` and whenever `wake()` says there may
 * be some, and on `stop()` lets running jobs finish for a grace period. Jobs it abandons keep
 * their leases, which run out, so another worker (or this one after `start()`) claims them again.
 */
export class JobLoop<Job> {
  private running = 0;
  private stopping = true;
  /** Set when stop() gave up waiting: late finishes must not write anything. */
  private abandonedFlag = false;
  private timer: NodeJS.Timeout | null = null;
  private pumping: Promise<void> | null = null;
  private pumpAgain = false;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly handlers: JobLoopHandlers<Job>,
    private readonly options: { name: string; concurrency: number; pollMs: number; logger: Logger },
  ) {}

  /** True once stop() stopped waiting for running jobs: they must not record their outcome. */
  get abandoned(): boolean {
    return this.abandonedFlag;
  }

  /** Starts claiming jobs; after stop() it resumes (what a paused replica does on restart). */
  start(): void {
    this.stopping = false;
    this.abandonedFlag = false;
    this.timer = setInterval(() => this.wake(), this.options.pollMs);
    this.timer.unref();
    this.wake();
  }

  /** Looks for work now (coalesced with a look already under way). */
  wake(): void {
    if (this.stopping) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = this.pump()
      .catch((error: unknown) =>
        this.options.logger.warn(
          { err: error },
          `claiming ${this.options.name} jobs failed; will retry`,
        ),
      )
      .finally(() => {
        this.pumping = null;
        if (this.pumpAgain) {
          this.pumpAgain = false;
          this.wake();
        }
      });
  }

  /**
   * Stops claiming, waits up to `graceMs` for jobs in progress, then abandons the rest: their
   * leases run out and another worker (or this one after a restart) claims them again.
   */
  async stop(graceMs = 5_000): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight, this.pumping]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timer);
    this.abandonedFlag = true;
  }

  private async pump(): Promise<void> {
    while (!this.stopping && this.running < this.options.concurrency) {
      const jobs = await this.handlers.claim(this.options.concurrency - this.running);
      if (jobs.length === 0) return;
      for (const job of jobs) {
        this.running += 1;
        const run = this.handlers.run(job).finally(() => {
          this.running -= 1;
          this.inFlight.delete(run);
          this.wake();
        });
        this.inFlight.add(run);
      }
    }
  }
}
