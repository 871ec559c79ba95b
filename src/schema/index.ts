import { builder } from './builder.ts';
import './scalars.ts';
import './enums.ts';
import './decision.ts';
import './decision-v3.ts';
import './session.ts';
import './report.ts';
import './back-office.ts';
import './events.ts';

export const schema = builder.toSchema({ sortSchema: false });
