/** The rollout engine's pure core: spec validation, the step plan, alarms and `decide`. No I/O. */
export * from './types.js';
export { validateSpec, planSteps, deviceOrder, devicesFor, RolloutSpecError, type PlannedStep } from './spec.js';
export { aggregate, evaluateAlarms, totalVariation } from './alarms.js';
export { decide, initialState, desiredFor, isTerminal } from './decide.js';
export { ROLLOUT_COMMANDS, FINISHED_PHASES, isFinishedPhase, commandRefusal, phaseCommands, describePhase, phaseText, type PhaseTextPart } from './phases.js';
