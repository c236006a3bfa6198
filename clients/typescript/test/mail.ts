// The tests' inbox: keel's console mailer writes each mail to keel's log when
// SMTP_URL is unset, and scripts/e2e-node.sh names that log in KEEL_LOG.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";

// mailedToken waits for keel's latest mail to email whose subject holds
// subject (the verification mail's "Confirm" by default) and returns the
// token its link carries.
export async function mailedToken(email: string, subject = "Confirm"): Promise<string> {
  const log = process.env.KEEL_LOG;
  assert.ok(log, "KEEL_LOG names keel's log file (scripts/e2e-node.sh sets it)");
  let token: string | undefined;
  for (let i = 0; i < 100 && !token; i++) {
    for (const line of (await readFile(log, "utf8")).split("\n")) {
      if (!line.startsWith("{")) continue;
      const rec = JSON.parse(line) as { msg?: string; to?: string; subject?: string; text?: string };
      if (rec.msg?.startsWith("email") && rec.to === email && rec.subject?.includes(subject)) {
        token = /token=([A-Za-z0-9_-]{43})/.exec(rec.text ?? "")?.[1] ?? token;
      }
    }
    if (!token) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(token, `no mail "${subject}" to ${email} in ${log}`);
  return token;
}
