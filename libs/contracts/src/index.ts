export * from './lib/errors/error-codes';
export * from './lib/errors/portfolio.error';
export * from './lib/rpc';
export * from './lib/messages/common.schema';
export * from './lib/messages/registry.messages';
export * from './lib/messages/storage.messages';
export * from './lib/messages/runtime.messages';
export * from './lib/messages/cache.messages';
