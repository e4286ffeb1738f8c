// The error both the console and the public site make of a failed call: the HTTP status (0 when the server
// could not be reached) and the server's message, read from its {"error": "...", "field": "..."} body.

export class ApiError extends Error {
  readonly status: number;
  /** the form field the error is about (JSON path such as "targets[0].minLimit"), when the API named one */
  readonly field?: string;
  constructor(status: number, message: string, field?: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.field = field || undefined;
  }
}

/** errorBody reads an error answer's body {"error", "field"} (either may be absent); null when it is not
 * JSON. */
export function errorBody(text: string): { error?: string; field?: string } | null {
  let b: unknown;
  try {
    b = JSON.parse(text);
  } catch {
    return null;
  }
  const o = (b && typeof b === "object" ? b : {}) as { error?: unknown; field?: unknown };
  return {
    error: typeof o.error === "string" ? o.error : undefined,
    field: typeof o.field === "string" ? o.field : undefined,
  };
}
