/**
 * What an image says about how it is meant to run: the part of an OCI image config
 * (`config` of the config blob, or of a `docker save` archive's config JSON) that wardenfs
 * honours, after validation (drivers/images/config.ts). Field names are the image's own
 * (OCI and Docker spell them the same). A field the image leaves out (or sets to null,
 * "" or []) is absent. Types only.
 */
export interface ImageConfig {
  /** `K=V` entries: the base of every process's environment. */
  Env?: string[];
  /** Absolute: the default of `run dir=`. */
  WorkingDir?: string;
  /** `USER[:GROUP]`, names or numbers: the default of `run user=`. */
  User?: string;
  /** The program of a run, before its arguments. */
  Entrypoint?: string[];
  /** The default arguments (or, without Entrypoint, the default program and arguments). */
  Cmd?: string[];
  /** `PORT/PROTO` keys, as the image has them (each value `{}`). Shown, not acted on. */
  ExposedPorts?: Record<string, Record<string, never>>;
  Labels?: Record<string, string>;
}

/** The fields, in the order images/NAME/config shows them. */
export const IMAGE_CONFIG_FIELDS = ['Env', 'WorkingDir', 'User', 'Entrypoint', 'Cmd', 'ExposedPorts', 'Labels'] as const;
