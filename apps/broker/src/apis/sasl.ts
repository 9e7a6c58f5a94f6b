import {
  ERROR_CODES,
  SaslAuthenticateApi,
  type SaslAuthenticateRequest,
  type SaslAuthenticateResponse,
  SaslHandshakeApi,
  type SaslHandshakeRequest,
  type SaslHandshakeResponse,
} from '@sluice/protocol';
import { SaslAuthenticationError } from '@sluice/security';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import type { AuthenticateResult } from '../server/sasl-session.js';

/** SaslHandshake: the mechanism the client will use; an unknown one is answered with the enabled list, then the connection closes. */
export function saslHandshakeHandler(_broker: BrokerContext): ApiHandler<SaslHandshakeRequest, SaslHandshakeResponse> {
  return {
    api: SaslHandshakeApi,
    minVersion: 0,
    maxVersion: 1,
    handle: (req, ctx) => {
      const sasl = ctx.connection.sasl;
      if (sasl === undefined) {
        // Kafka answers a handshake on a listener without SASL the same way, and keeps the connection.
        return { errorCode: ERROR_CODES.ILLEGAL_SASL_STATE, mechanisms: [] };
      }
      // v0 would switch to unframed tokens (Kafka before 1.0); every client in use sends v1.
      if (ctx.apiVersion === 0) {
        ctx.connection.closeAfterResponses?.('SaslHandshake v0 (unframed SASL tokens) is not supported');
        return { errorCode: ERROR_CODES.UNSUPPORTED_VERSION, mechanisms: [...sasl.mechanisms] };
      }
      if (!sasl.handshake(req.mechanism)) {
        ctx.connection.closeAfterResponses?.(`SASL mechanism ${req.mechanism.slice(0, 64)} is not enabled`);
        return { errorCode: ERROR_CODES.UNSUPPORTED_SASL_MECHANISM, mechanisms: [...sasl.mechanisms] };
      }
      return { errorCode: 0, mechanisms: [...sasl.mechanisms] };
    },
  };
}

/** SaslAuthenticate: one token of the exchange; a refused login is answered SASL_AUTHENTICATION_FAILED, then the connection closes. */
export function saslAuthenticateHandler(
  broker: BrokerContext,
): ApiHandler<SaslAuthenticateRequest, SaslAuthenticateResponse> {
  return {
    api: SaslAuthenticateApi,
    minVersion: 0,
    maxVersion: 2,
    handle: (req, ctx) => {
      const connection = ctx.connection;
      const sasl = connection.sasl;
      const answer = (
        errorCode: number,
        errorMessage: string | null,
        authBytes: Buffer = Buffer.alloc(0),
        lifetime = 0,
      ) => ({
        errorCode,
        errorMessage,
        authBytes,
        sessionLifetimeMs: BigInt(lifetime),
      });
      if (sasl === undefined) {
        return answer(
          ERROR_CODES.ILLEGAL_SASL_STATE,
          'SaslAuthenticate request received after successful authentication',
        );
      }
      const succeeded = ({ response, sessionLifetimeMs }: AuthenticateResult) => {
        if (sasl.authenticated) connection.principal = `User:${sasl.user}`;
        return answer(0, null, response, sessionLifetimeMs);
      };
      const failed = (err: unknown) => {
        const refused = err instanceof SaslAuthenticationError;
        const message = (err as Error).message;
        // One line per refused login (bounded per client address by the connection log limiter).
        connection.closeAfterResponses?.(`SASL authentication failed: ${message}`);
        broker.metrics?.requestError('SaslAuthenticate', refused ? 'SASL_AUTHENTICATION_FAILED' : 'ILLEGAL_SASL_STATE');
        return refused
          ? answer(ERROR_CODES.SASL_AUTHENTICATION_FAILED, message)
          : answer(ERROR_CODES.ILLEGAL_SASL_STATE, message);
      };
      try {
        const result = sasl.authenticate(req.authBytes, ctx.apiVersion);
        // OAUTHBEARER against a JWKS validates asynchronously.
        return result instanceof Promise ? result.then(succeeded, failed) : succeeded(result);
      } catch (err) {
        return failed(err);
      }
    },
  };
}
