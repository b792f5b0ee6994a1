// console.ts: the admin console (/console). See web/src/console/.
import "../lib/base.css";
import { start } from "../console/app";

start(document.getElementById("app")!);
