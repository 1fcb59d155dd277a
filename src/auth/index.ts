/**
 * End-user authentication: the tokens `seenn.tokens` issues and the bridge checks.
 */
export {
  TokenService,
  createTokenVerifier,
  secretBytes,
  TOKEN_DEFAULTS,
  TOKEN_LIMITS,
  type IssueTokenOptions,
  type Principal,
  type TokenVerifier,
} from './tokens.js';
