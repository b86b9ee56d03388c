/**
 * A Jupyter MIME bundle: MIME type -> data. 'text/plain' is always present.
 * Others used here: 'text/html', 'text/markdown', 'text/latex', 'image/png'
 * (base64 string), 'application/vnd.plotly.v1+json' ({data, layout, config?}),
 * 'application/json'.
 */
export type MimeBundle = Record<string, unknown>;

/** Turns values it recognises into MIME bundles. */
export interface DisplayPlugin {
  /** Unique name; registering a plugin with a taken name replaces it. */
  name: string;
  /** Whether this plugin renders `value`. */
  test(value: unknown): boolean;
  /** The bundle for `value` (called only when test() accepted it). */
  render(value: unknown): MimeBundle;
}

/** Where displays go: the kernel or runner installs a sink for the duration of a cell. */
export interface DisplaySink {
  /** A new display_data output; displayId lets later updates replace it. */
  display(data: MimeBundle, metadata: Record<string, unknown>, displayId?: string): void;
  /** update_display_data: replaces every output shown with `displayId`. */
  update(data: MimeBundle, metadata: Record<string, unknown>, displayId: string): void;
  /** clear_output; with `wait`, the clearing happens when the next output arrives. */
  clear(wait: boolean): void;
}
