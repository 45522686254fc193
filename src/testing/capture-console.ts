// What a function prints while a test runs it in-process (runSweep, report …): console.log and console.error are
// captured, apart and interleaved, and put back afterwards, also when the function throws.
export interface Captured<T> {
  value: T;
  /** console.log lines. */
  out: string;
  /** console.error lines. */
  err: string;
  /** Both, in the order they were printed. */
  all: string;
}

export async function captureConsole<T>(f: () => T | Promise<T>): Promise<Captured<T>> {
  const log = console.log,
    error = console.error;
  const c = { out: "", err: "", all: "" };
  const into =
    (stream: "out" | "err") =>
    (...x: unknown[]) => {
      const line = x.join(" ") + "\n";
      c[stream] += line;
      c.all += line;
    };
  console.log = into("out");
  console.error = into("err");
  try {
    return { value: await f(), ...c };
  } finally {
    console.log = log;
    console.error = error;
  }
}
