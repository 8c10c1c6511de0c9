/** %freeze MODEL SELECTOR...: freeze the weights a glob, /regex/ or key list picks (see ../freezing.ts). */
import { registerMagic } from '../registry';
import { freezeMagic } from '../freezing';

registerMagic(freezeMagic('freeze'));
