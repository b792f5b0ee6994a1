// portal.ts: the customer portal (/portal). See web/src/portal/.
import "../lib/base.css";
import { start } from "../portal/app";

start(document.getElementById("app")!);
