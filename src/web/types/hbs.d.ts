/** The part of the `hbs` package (Express view engine over Handlebars) the admin pages use. */
declare module 'hbs' {
  const hbs: {
    registerPartial(name: string, template: string): void;
  };
  export default hbs;
}
