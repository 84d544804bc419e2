/** The contract between the cloud and the agent. Both import this; neither imports the other. */
export * from './manifest.js';
export * from './artifact.js';
export * from './signing.js';
export * from './archive.js';
export * from './sync.js';
export * from './pipeline.js';
