/**
 * End-user authentication: the tokens `seenn.tokens` issues and the bridge checks.
 */
export {
  TokenService,
  verifyToken,
  secretBytes,
  TOKEN_DEFAULTS,
  TOKEN_LIMITS,
  type IssueTokenOptions,
  type Principal,
} from './tokens.js';
