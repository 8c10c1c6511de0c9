/** The variable of the kernelspec's env that tells the kernel where `tsfreeze install` put plotly.js as a Notebook nbextension. */
export const PLOTLY_ENV = 'TSFREEZE_PLOTLY_NBEXTENSION';
