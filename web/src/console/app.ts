import { h, replace } from "../lib/dom";

export function start(root: HTMLElement): void {
  replace(root, h("main", {}, h("h1", {}, "keyline console")));
}
