import { GraphQLError } from 'graphql';
import { rule, type IRule } from 'graphql-shield';
import type { Principal } from './principal.ts';
import { roleAtLeast, type Role } from './roles.ts';

interface WithPrincipal {
  principal: Principal | null;
}

const signInFirst = () =>
  new GraphQLError(
    'Authentication required: send "Authorization: Bearer <access token or API key>"',
    {
      extensions: { code: 'UNAUTHENTICATED' },
    },
  );

/** Any verified caller (user token or API key). */
export const isAuthenticated = rule({ cache: 'contextual' })(
  (_parent, _args, ctx: WithPrincipal) => (ctx.principal ? true : signInFirst()),
);

const roleRules = new Map<Role, IRule>();

/** A caller whose role is `minimum` or stronger; the error names the role needed. */
export function hasRole(minimum: Role): IRule {
  let cached = roleRules.get(minimum);
  if (!cached) {
    cached = rule(`has-role-${minimum}`, { cache: 'contextual' })(
      (_parent, _args, ctx: WithPrincipal) => {
        if (!ctx.principal) return signInFirst();
        if (roleAtLeast(ctx.principal.role, minimum)) return true;
        return new GraphQLError(
          `This requires the ${minimum} role or stronger; you are ${ctx.principal.role}`,
          {
            extensions: { code: 'FORBIDDEN' },
          },
        );
      },
    );
    roleRules.set(minimum, cached);
  }
  return cached;
}

/** Only a signed-in user (not an API key). */
export const isUser = rule({ cache: 'contextual' })((_parent, _args, ctx: WithPrincipal) => {
  if (!ctx.principal) return signInFirst();
  return ctx.principal.userId
    ? true
    : new GraphQLError('This requires a user session, not an API key', {
        extensions: { code: 'FORBIDDEN' },
      });
});
