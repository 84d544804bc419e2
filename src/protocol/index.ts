/** The contract between the cloud and the agent. Both import this; neither imports the other. */
export * from './manifest.js';
