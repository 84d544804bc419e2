/** The target profiles: one JSON file each in targets/, loaded and validated here; used by the compiler, runtime and agent alike. */
export {
  loadTarget,
  loadAllTargets,
  listBuiltinTargets,
  parseTargetProfile,
  missingFeatures,
  TargetProfileSchema,
  BUILTIN_TARGETS_DIR,
  type TargetProfile,
} from './profiles.js';
