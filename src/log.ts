/**
 * Progress and diagnostics go to stderr, so stdout carries only the result
 * (human text, or JSON with --json).
 */
export interface Logger {
  step(title: string): StepHandle;
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
  /** A progress line outside any step (git's clone and fetch progress). */
  progress(message: string): void;
}

export interface StepHandle {
  progress(message: string): void;
  done(summary?: string): number;
  fail(summary?: string): number;
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function stderrLogger(opts: { verbose?: boolean; quiet?: boolean } = {}): Logger {
  const write = (line: string) => {
    if (!opts.quiet) process.stderr.write(`${line}\n`);
  };
  const interactive = process.stderr.isTTY === true && !opts.quiet;
  let lastLoneProgressAt = 0;
  return {
    step(title) {
      const started = Date.now();
      write(`▸ ${title}`);
      let lastProgressAt = 0;
      return {
        progress(message) {
          // Throttle so a chatty tool (bazel) does not flood a CI log.
          const now = Date.now();
          if (!interactive && now - lastProgressAt < 2000) return;
          lastProgressAt = now;
          write(`  … ${message.slice(0, 160)}`);
        },
        done(summary) {
          const ms = Date.now() - started;
          write(`  ✓ ${title}${summary ? `: ${summary}` : ''} (${formatMs(ms)})`);
          return ms;
        },
        fail(summary) {
          const ms = Date.now() - started;
          write(`  ✗ ${title}${summary ? `: ${summary}` : ''} (${formatMs(ms)})`);
          return ms;
        },
      };
    },
    info: (m) => write(m),
    warn: (m) => write(`warning: ${m}`),
    debug: (m) => {
      if (opts.verbose) write(m);
    },
    progress(message) {
      // The same throttle as a step's progress.
      const now = Date.now();
      if (!interactive && now - lastLoneProgressAt < 2000) return;
      lastLoneProgressAt = now;
      write(`  … ${message.slice(0, 160)}`);
    },
  };
}

/** A logger that records lines, for tests. */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    step(title) {
      lines.push(`step ${title}`);
      return {
        progress: (m) => void lines.push(`progress ${m}`),
        done: (s) => (lines.push(`done ${title}${s ? `: ${s}` : ''}`), 0),
        fail: (s) => (lines.push(`fail ${title}${s ? `: ${s}` : ''}`), 0),
      };
    },
    info: (m) => void lines.push(`info ${m}`),
    warn: (m) => void lines.push(`warn ${m}`),
    debug: (m) => void lines.push(`debug ${m}`),
    progress: (m) => void lines.push(`progress ${m}`),
  };
}
