// session.ts: the signed-in root key. It lives in this module's memory
// only: never in localStorage, sessionStorage, a cookie or the URL. Reload
// the page and it is gone; since nothing is sent automatically by the
// browser, a foreign site has nothing to forge (no CSRF surface).
import { Client } from "../lib/api";

export interface Session {
  client: Client;
  workspaceId: string;
  rootKeyId: string;
  permissions: Set<string>;
}

let current: Session | null = null;

export function session(): Session | null {
  return current;
}

export async function signIn(rootKey: string): Promise<Session> {
  const client = new Client(rootKey);
  const { data } = await client.call<{ workspaceId: string; rootKeyId: string; permissions: string[] }>("keyline.whoami");
  current = { client, workspaceId: data.workspaceId, rootKeyId: data.rootKeyId, permissions: new Set(data.permissions) };
  return current;
}

export function signOut(): void {
  current = null;
}

/**
 * can tells whether the root key holds a grant for action, either for
 * every resource of the kind ("api.*.create_key") or for the given one
 * ("api.<id>.create_key"), or any resource permission (URN) naming the
 * action. It only decides what the console shows: the server decides
 * what is allowed.
 */
export function can(kind: string, action: string, id?: string): boolean {
  const p = current?.permissions;
  if (!p) return false;
  if (p.has(`${kind}.*.${action}`) || (id && p.has(`${kind}.${id}.${action}`))) return true;
  for (const perm of p) {
    if (perm.startsWith("unkey:") && perm.endsWith(`#${action}`)) return true;
  }
  return false;
}

/** canAny: some grant for action exists, whatever resource it names. */
export function canAny(kind: string, action: string): boolean {
  const p = current?.permissions;
  if (!p) return false;
  for (const perm of p) {
    if ((perm.startsWith(`${kind}.`) && perm.endsWith(`.${action}`)) || (perm.startsWith("unkey:") && perm.endsWith(`#${action}`))) return true;
  }
  return false;
}
