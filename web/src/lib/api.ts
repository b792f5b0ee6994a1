// api.ts: the client of keyline's own /v2 API (Unkey's envelope:
// {meta: {requestId}, data, pagination?} or {meta, error}).

export interface Problem {
  title?: string;
  detail?: string;
  status?: number;
  type?: string;
}

/** ApiError is a non-2xx answer, with the server's error envelope. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
    readonly requestId: string,
  ) {
    super(problem.detail || problem.title || `HTTP ${status}`);
  }
  /** code is the last path segment of the error type (e.g. "not_found"). */
  get code(): string {
    return (this.problem.type || "").split("/").pop() || "";
  }
}

export interface Page<T> {
  data: T;
  pagination?: { cursor?: string; hasMore?: boolean };
}

/**
 * Client calls POST /v2/<op>. With a bearer token it sends Authorization on
 * every call (the console: the root key lives only in this object, in
 * memory); without one the browser sends the page's cookies (the portal's
 * session cookie, with the CSRF header the server asks for).
 */
export class Client {
  constructor(
    private readonly bearer?: string,
    private readonly headers: Record<string, string> = {},
  ) {}

  async call<T>(op: string, body: unknown = {}): Promise<Page<T>> {
    const headers: Record<string, string> = { "Content-Type": "application/json", ...this.headers };
    if (this.bearer) headers["Authorization"] = `Bearer ${this.bearer}`;
    let res: Response;
    try {
      res = await fetch(`/v2/${op}`, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
        credentials: this.bearer ? "omit" : "same-origin",
        cache: "no-store",
      });
    } catch (e) {
      throw new ApiError(0, { title: "Network error", detail: String(e) }, "");
    }
    let env: { meta?: { requestId?: string }; data?: T; error?: Problem; pagination?: Page<T>["pagination"] } = {};
    try {
      env = await res.json();
    } catch {
      // Not the envelope (a proxy's error page, an empty body): reported below.
    }
    if (!res.ok || env.error) {
      throw new ApiError(res.status, env.error || { title: res.statusText }, env.meta?.requestId || "");
    }
    return { data: env.data as T, pagination: env.pagination };
  }
}
