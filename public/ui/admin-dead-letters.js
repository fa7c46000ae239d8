// Dead letters: the notifications the queue gave up on, most recent first, each with a replay.
import { query } from "./api.js";
import { $, h, row, time } from "./dom.js";

let cursors = [null];

export async function loadDeadLetters(session) {
  const pending = $("pending-only").checked;
  const cursor = cursors[cursors.length - 1];
  const page = await session.call("GET", `/api/admin/dead-letters${query({ limit: 50, pending, cursor })}`);
  $("dead-letters").replaceChildren(
    ...page.deadLetters.map((letter) =>
      row(
        [
          time(letter.failedAt),
          [letter.id, "id"],
          letter.type ?? "(not an event)",
          [letter.orderId ?? "—", "id"],
          letter.userId === null ? "—" : String(letter.userId),
          String(letter.attempts),
          [letter.lastError, "error-text"],
          String(letter.replays),
          time(letter.replayedAt),
          h(
            "button",
            {
              type: "button",
              dataset: { replay: letter.id },
              onclick: async (event) => {
                event.target.disabled = true;
                try {
                  const replayed = await session.call(
                    "POST",
                    `/api/admin/dead-letters/${encodeURIComponent(letter.id)}/replay`,
                  );
                  session.notify(`Dead letter ${replayed.id} queued again (replay ${replayed.replays})`);
                  session.refresh();
                } catch {
                  event.target.disabled = false;
                }
              },
            },
            "Replay",
          ),
        ],
        { dataset: { id: letter.id } },
      ),
    ),
  );
  if (!page.deadLetters.length) {
    $("dead-letters").append(
      h("tr", {}, h("td", { colspan: 10 }, pending ? "No dead letters waiting" : "No dead letters")),
    );
  }
  $("dead-letters-next").disabled = !page.nextCursor;
  $("dead-letters-first").disabled = cursors.length < 2;
  $("dead-letters-next").onclick = () => {
    cursors.push(page.nextCursor);
    loadDeadLetters(session).catch(() => cursors.pop());
  };
}

export function setupDeadLetters(session) {
  const restart = () => {
    cursors = [null];
    loadDeadLetters(session).catch(() => {});
  };
  $("pending-only").addEventListener("change", restart);
  $("reload-dead-letters").addEventListener("click", restart);
  $("dead-letters-first").addEventListener("click", restart);
}
