// format.ts: how pages print times and numbers (the viewer's locale).

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** when prints a Unix-millisecond time, or "never" for 0/undefined. */
export function when(ms: number | undefined | null): string {
  return ms ? dateTime.format(new Date(ms)) : "never";
}

const integer = new Intl.NumberFormat();

export function num(n: number | undefined | null): string {
  return n === undefined || n === null ? "unlimited" : integer.format(n);
}
