import { recordActions } from '../audit/actions.ts';
import { builder } from './builder.ts';
import './scalars.ts';
import './enums.ts';
import './decision.ts';
import './decision-steps.ts';
import './session.ts';
import './report.ts';
import './back-office.ts';
import './events.ts';
import './audit.ts';

export const schema = recordActions(builder.toSchema({ sortSchema: false }));
