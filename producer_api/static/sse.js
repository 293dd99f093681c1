// Server-Sent Events, parsed from text chunks as they arrive (the HTML standard's rules, enough of them):
// lines end with \n, \r\n or \r; a blank line ends an event; `data` lines join with \n; ":" is a comment.
export class SseParser {
  constructor() { this.buffer = ""; this.fields = { data: [] }; }

  // The events completed by `chunk`: {id, event, data} (data a string), comments skipped.
  feed(chunk) {
    this.buffer += chunk;
    const events = [];
    let match;
    while ((match = /\r\n|\r|\n/.exec(this.buffer)) !== null) {
      if (match[0] === "\r" && match.index === this.buffer.length - 1) break; // maybe \r\n, split
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      if (line === "") {
        if (this.fields.data.length) {
          events.push({ id: this.fields.id ?? null, event: this.fields.event ?? "message", data: this.fields.data.join("\n") });
        }
        this.fields = { data: [] };
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (name === "data") this.fields.data.push(value);
        else if (name === "id" || name === "event") this.fields[name] = value;
      }
    }
    return events;
  }
}
