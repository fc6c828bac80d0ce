import { Controller, Get, Req } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';

import { Authenticator } from './authenticator.service';
import { Access } from './scopes';
import { WhoAmI, WhoAmIDocs } from './whoami.openapi';

/**
 * `GET /v1/auth/whoami`: whether auth is on, and who the key sent is. Public, and never
 * 401 (an unknown key is `key: "invalid"`): the web console asks it whether to ask for a
 * key and which controls to show; the routes check their scopes themselves.
 */
@Controller('v1/auth')
@Access('public')
@ApiTags('v1')
export class WhoAmIController {
  constructor(private readonly authenticator: Authenticator) {}

  @Get('whoami')
  @WhoAmIDocs()
  whoami(@Req() request: FastifyRequest): Promise<WhoAmI> {
    return this.authenticator.describe(request);
  }
}
